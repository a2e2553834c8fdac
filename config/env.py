"""Read settings from the environment, failing at start-up with the variable's name.

django-environ parses URLs; the typed readers here are strict because a typo such as
DEBUG=flase or SALES_BUDGET_PERCENT=ten must stop the process, not run with a guess.
"""

import os
import zoneinfo

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name):
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name, default=None, *, required=False):
    value = _raw(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name, default):
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name, default, *, min_value=None, max_value=None):
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if (min_value is not None and number < min_value) or (
        max_value is not None and number > max_value
    ):
        if max_value is None:
            raise ImproperlyConfigured(f"{name} must be at least {min_value}, not {number}.")
        raise ImproperlyConfigured(
            f"{name} must be between {min_value} and {max_value}, not {number}."
        )
    return number


def env_list(name, default):
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_time_zone(name, default):
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name} is not a known time zone: {value!r}.") from None
    return value


def env_database(name, default):
    value = env_str(name, default)
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {exc}") from None
    if not config.get("ENGINE") or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} is not a usable database URL: {value!r}.")
    return config


def env_email(name):
    """EMAIL_URL such as smtp://user:pass@host:587/?tls=True; None means the local default."""
    value = env_str(name)
    if value is None:
        return None
    try:
        config = environ.Env.email_url_config(value)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} is not a usable email URL: {exc}") from None
    if not config.get("EMAIL_BACKEND"):
        raise ImproperlyConfigured(f"{name} is not a usable email URL: {value!r}.")
    return config


def env_broker(name):
    value = env_str(name)
    if value is None:
        return None
    if not value.startswith(("redis://", "rediss://")):
        raise ImproperlyConfigured(f"{name} must be a redis:// or rediss:// URL, not {value!r}.")
    return value
