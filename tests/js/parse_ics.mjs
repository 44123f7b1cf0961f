// Parse an ICS file with ical.js (an independent parser) and print what the tests assert on:
// the calendar's properties and, per event, its times, sequence, status and alarms, as JSON.
// Usage: node parse_ics.mjs FILE
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node parse_ics.mjs FILE");
  process.exit(2);
}
const calendar = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
if (calendar.name !== "vcalendar") {
  console.error(`${file}: the top-level component is ${calendar.name}, not vcalendar`);
  process.exit(1);
}

// Register the feed's own VTIMEZONEs so that timed events resolve to absolute instants.
const timezones = calendar.getAllSubcomponents("vtimezone").map((vtimezone) => {
  const timezone = new ICAL.Timezone(vtimezone);
  ICAL.TimezoneService.register(timezone, timezone.tzid);
  return timezone.tzid;
});

const text = (component, name) => {
  const value = component.getFirstPropertyValue(name);
  return value === null ? null : String(value);
};

const moment = (time) =>
  time === null
    ? null
    : {
        value: time.toString(),
        isDate: time.isDate,
        tzid: time.isDate ? null : time.zone ? time.zone.tzid : null,
        utc: time.isDate ? null : new Date(time.toUnixTime() * 1000).toISOString(),
      };

const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const start = moment(event.startDate);
  const end = moment(event.endDate);
  return {
    uid: event.uid,
    summary: event.summary,
    description: event.description,
    start: start.value,
    end: end ? end.value : null,
    isDate: start.isDate,
    tzid: start.tzid,
    startUtc: start.utc,
    endUtc: end ? end.utc : null,
    sequence: event.sequence,
    status: text(vevent, "status"),
    transp: text(vevent, "transp"),
    dtstamp: text(vevent, "dtstamp"),
    attendees: vevent.getAllProperties("attendee").length,
    alarms: vevent.getAllSubcomponents("valarm").map((alarm) => ({
      action: text(alarm, "action"),
      trigger: text(alarm, "trigger"),
      description: text(alarm, "description"),
    })),
  };
});

process.stdout.write(
  JSON.stringify(
    {
      calendar: {
        prodid: text(calendar, "prodid"),
        version: text(calendar, "version"),
        method: text(calendar, "method"),
        name: text(calendar, "name"),
        calname: text(calendar, "x-wr-calname"),
        timezone: text(calendar, "x-wr-timezone"),
        refreshInterval: text(calendar, "refresh-interval"),
        publishedTtl: text(calendar, "x-published-ttl"),
      },
      timezones,
      events,
    },
    null,
    2,
  ) + "\n",
);
