"""One helper for every query-count test: read a URL, count its queries, hold the cap.

Pages and list endpoints must run a fixed number of queries however many rows there are
(the tests compare two sizes) and never more than MAX_QUERIES (issue 7's budget)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

MAX_QUERIES = 12


def queries_for(client, url, **headers):
    """(number of queries, response) of one GET that must answer 200."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return len(ctx.captured_queries), response


def assert_flat(counts, what="", cap=MAX_QUERIES):
    """The same number of queries at every size, and within the cap."""
    sizes = ", ".join(f"{n} at size {size}" for size, n in counts.items())
    assert len(set(counts.values())) == 1, f"{what}: queries grow with the data: {sizes}"
    assert max(counts.values()) <= cap, f"{what}: over {cap} queries: {sizes}"


def page_queries(client, url):
    """(number of queries, HTML) of one page that must answer 200."""
    count, response = queries_for(client, url)
    return count, response.content.decode()
