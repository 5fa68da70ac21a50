"""Parses Prometheus text exposition from stdin with the reference client's parser
(prometheus_client.parser) and prints the families as JSON:
{"families": {name: {"type": t, "help": h, "samples": [{"name", "labels", "value"}]}}}.
A parse error exits 1 with the parser's message, so a malformed /metrics fails its test.
Used by tests/e2e/lib/prom.mjs."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    out = {}
    try:
        for fam in text_string_to_metric_families(text):
            out[fam.name] = {
                "type": fam.type,
                "help": fam.documentation,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": None if math.isnan(s.value) else s.value}
                    for s in fam.samples
                ],
            }
    except Exception as e:  # the parser raises ValueError and friends on bad input
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps({"families": out}))


if __name__ == "__main__":
    main()
