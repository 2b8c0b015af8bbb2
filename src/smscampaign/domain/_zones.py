"""Time zones by IANA name, whatever library the caller's zone object comes from."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import tzinfo
from typing import Any

from smscampaign.errors import ConfigurationError

__all__ = ["get_zone", "is_known_zone", "zone_name"]


@functools.lru_cache(maxsize=1024)
def is_known_zone(name: str) -> bool:
    """True when ``name`` is an IANA zone this machine's tz database knows."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def get_zone(name: str) -> zoneinfo.ZoneInfo:
    """The :class:`zoneinfo.ZoneInfo` for an IANA name.

    Raises:
        ConfigurationError: The name is not a known zone.
    """
    if not is_known_zone(name):
        raise ConfigurationError(f"unknown time zone {name!r}; use an IANA name", value=name)
    return zoneinfo.ZoneInfo(name)


def zone_name(zone: Any) -> str:
    """The IANA name of a zone given as a name, or a zoneinfo, pytz or dateutil object.

    Raises:
        ConfigurationError: The zone has no IANA name we can find (e.g. a fixed offset
            from ``dateutil.tz.tzoffset`` or a bare ``datetime.timezone``), other than UTC.
    """
    if isinstance(zone, str):
        if not is_known_zone(zone):
            raise ConfigurationError(f"unknown time zone {zone!r}; use an IANA name", value=zone)
        return zone
    if isinstance(zone, zoneinfo.ZoneInfo):
        return zone.key
    name = getattr(zone, "zone", None)  # pytz
    if isinstance(name, str) and is_known_zone(name):
        return name
    filename = getattr(zone, "_filename", None)  # dateutil.tz.gettz / tzfile
    if isinstance(filename, str):
        for candidate in (filename, *_suffixes(filename)):
            if is_known_zone(candidate):
                return candidate
    if isinstance(zone, tzinfo):
        from datetime import datetime

        probe = datetime(2000, 1, 1, tzinfo=zone)
        if zone.utcoffset(probe) is not None and zone.utcoffset(probe).total_seconds() == 0:  # type: ignore[union-attr]
            label = zone.tzname(probe) or ""
            if label.upper() in {"UTC", "Z", "GMT", "UTC+00:00"}:
                return "UTC"
    raise ConfigurationError(
        f"cannot tell the IANA name of time zone {zone!r}; pass a name such as 'Europe/Paris'",
        value=zone,
    )


def _suffixes(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]
