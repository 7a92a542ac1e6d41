"""Which environment variables a catalogue spec may have the probe read.

A spec names variables (`*_env`); the agency that writes it does not own the probe. So the probe
reads only variables its operator released: names matching `PANTAU_SECRET_[A-Z0-9_]+` (the
collector refuses other names at write time, the probe refuses them again here), and, when its
configuration lists `secrets`, only those. Its own token variable and DATABASE_URL are never
released, whatever the configuration says. And a check of an app of agency X reads only
`PANTAU_SECRET_<X>_...`: the collector refuses other names at write time, the probe again here,
so no agency can have the probe send it another agency's secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wire.specs import SECRET_ENV_PATTERN, secret_prefix

NEVER_RELEASED: Final = frozenset({"DATABASE_URL", "PANTAU_PROBE_TOKEN"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRelease:
    names: frozenset[str] | None = None  # None: every name matching the pattern
    withheld: frozenset[str] = NEVER_RELEASED  # plus the probe's own token variable

    def refusal(self, name: str, *, agency: str | None) -> str | None:
        """Why a spec of an app of `agency` may not read variable `name`, or None when it may.

        `agency` None (not known) releases nothing.
        """
        if name in self.withheld:
            return f"environment variable {name} belongs to the probe and is never released"
        if not SECRET_ENV_PATTERN.fullmatch(name):
            return f"environment variable {name} is not a catalogue secret (PANTAU_SECRET_*)"
        if agency is None:
            return f"environment variable {name}: the app's agency is not known"
        prefix = secret_prefix(agency)
        if not name.startswith(prefix) or name == prefix:
            return (
                f"environment variable {name} is not a secret of agency {agency}"
                f" (its apps may read only {prefix}*)"
            )
        if self.names is not None and name not in self.names:
            return f"environment variable {name} is not in the probe's `secrets` list"
        return None
