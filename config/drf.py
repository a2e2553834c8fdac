"""DRF plumbing that settings.REST_FRAMEWORK names. Kept apart from config.api, which DRF
would otherwise import half-initialised while loading APIView's defaults."""

from rest_framework import authentication, parsers
from rest_framework.exceptions import AuthenticationFailed, ParseError


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, refusing keys PostgreSQL cannot even compare (NUL bytes):
    `Authorization: Token a\\x00b` is a 401 like any other wrong token, not a 500."""

    def authenticate_credentials(self, key):
        if "\x00" in key:
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; JSON nested too deep for Python's parser is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
