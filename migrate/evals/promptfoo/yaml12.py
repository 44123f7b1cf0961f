"""Read YAML the way promptfoo does (js-yaml, YAML 1.2 core schema), with line numbers.

PyYAML resolves plain scalars by YAML 1.1 rules: `Yes`, `on` and `n` become booleans,
`0755` an octal number, `1_000` a thousand. js-yaml's core schema keeps all of those as
text, so a suite read by 1.1 rules would send the model different words than promptfoo
does. Here the libyaml composer still builds the nodes (keeping marks for line numbers,
refusing duplicate keys, resolving `<<` merges), and plain scalars are re-resolved by the
1.2 core rules. Values promptfoo would turn into JavaScript objects that render
differently in every time zone (timestamps) or that JavaScript cannot hold exactly
(integers past 2^53, NaN, infinities) are refused rather than guessed.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from migrate.errors import InputError, Problem
from migrate.yamlsource import KeyPath, Located, _syntax_hint, _Walker

try:  # libyaml, as the registry reader uses it; the pure-Python reader where it is missing
    from yaml import CSafeLoader as _Loader

    _LIBYAML = True
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    _LIBYAML = False

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"0o[0-7]+|0x[0-9a-fA-F]+|[-+]?[0-9]+")
_FLOAT = re.compile(
    r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?"
)
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?"
)
MAX_SAFE_INTEGER = 2**53 - 1
_STR_TAG = "tag:yaml.org,2002:str"


def js_number(value: int | float) -> int | float:
    """A number as JavaScript holds it: one type, so 2.0 is 2 (and prints as "2")."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


class _CoreWalker(_Walker):
    def scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if not isinstance(node, yaml.ScalarNode):  # pragma: no cover - collections go elsewhere
            return super().scalar(node, path)
        if node.style:  # quoted or block scalars are always text (libyaml marks plain as '')
            if node.tag != _STR_TAG and self._explicit(node):
                return self._explicit_value(node, path)
            return node.value
        if self._explicit(node):
            return self._explicit_value(node, path)
        return self._resolve_plain(node, path)

    def _explicit(self, node: yaml.ScalarNode) -> bool:
        """True when the tag was written (`!!str 1`), not inferred by PyYAML's 1.1 rules."""
        implicit = (not node.style, bool(node.style))
        return bool(node.tag != self.loader.resolve(yaml.ScalarNode, node.value, implicit))

    def _explicit_value(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        if node.tag == "tag:yaml.org,2002:null":
            return None
        if node.tag in {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}:
            return self._resolve_plain(node, path)
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise self.fail(node, path, f"unsupported tag '{tag}' (promptfoo reads it differently)")

    def _resolve_plain(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        text = node.value
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if _INT.fullmatch(text):
            number = (
                int(text[2:], 8 if text[1] == "o" else 16)
                if text[:2] in {"0o", "0x"}
                else int(text)
            )
            if abs(number) > MAX_SAFE_INTEGER:
                raise self.fail(
                    node, path, f"'{text}' is past what JavaScript holds exactly; quote it"
                )
            return number
        if _FLOAT.fullmatch(text):
            value = float(text)
            if math.isinf(value):
                raise self.fail(node, path, f"'{text}' is too large a number; quote it")
            return js_number(value)
        if _SPECIAL_FLOAT.fullmatch(text):
            raise self.fail(node, path, f"'{text}' is not a finite number; quote it")
        if _DATE.fullmatch(text) or _TIMESTAMP.fullmatch(text):
            raise self.fail(
                node,
                path,
                f"'{text}' is read by promptfoo as a date, which renders differently in "
                "every time zone; quote it to keep it as text",
            )
        return text

    def key(self, key_node: yaml.Node, path: KeyPath) -> str:
        if isinstance(key_node, yaml.ScalarNode) and not key_node.style:
            value = self._resolve_plain(key_node, path)
            if value is None:
                return "null"
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        return super().key(key_node, path)


def parse_yaml12(text: str, file: str) -> Located:
    """Parse one YAML document with js-yaml's core-schema scalars, or raise InputError."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, len(text.splitlines()) or 1) if mark else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        problem += _syntax_hint(text, mark, problem)
        raise InputError([Problem(file, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.reader.ReaderError as exc:
        end = max(exc.position, 0)
        if _LIBYAML:
            line = text.encode("utf-8", "surrogatepass").count(b"\n", 0, end) + 1
        else:  # pragma: no cover - depends on the PyYAML build
            line = text.count("\n", 0, end) + 1
        message = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise InputError([Problem(file, line, "", message)]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(file, None, "", f"YAML error: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    located = Located(data=None, file=file)
    if node is not None:
        located.data = _CoreWalker(loader, located).value(node, ())
    return located
