"""``python -m otel_kit.instrumentation [extras] [readme]``: pyproject's extras and the README table, from the registry."""

from __future__ import annotations

import json
import sys

from otel_kit.instrumentation import _registry


def main(argv: list[str]) -> int:
    wanted = set(argv) or {"extras", "readme"}
    if "extras" in wanted:
        for extra, requirements in _registry.extras().items():
            print(f"{extra} = {json.dumps(requirements)}")
    if "readme" in wanted:
        print(_registry.readme_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
