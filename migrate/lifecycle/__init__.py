"""Where lifecycle dates come from: litellm's bundled model map and deprecation feeds.

`names` knows how providers spell model ids, `sources` reads the map and feeds into plain
records, `compare` matches them against the registry (pure), and `write` puts exact matches
into `models.yaml` without losing a comment.
"""
