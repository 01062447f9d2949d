"""Discovery for `type: http_json`: the block's optional `list:` names a job
list endpoint, so any JSON job API can be discovered and given `expect:`.

```yaml
list:
  url: /v1/jobs?connectionId={connection}&orderBy=createdAt|DESC   # {NAME}: a discover: key
  items: data                  # JMESPath to the list of jobs in the answer
  id: jobId                    # JMESPath, on each job, to its id
  created: createdAt           # optional: ISO 8601 or epoch s/ms; older than the watch are skipped
  next: next                   # optional: JMESPath to the next page's link (URL or /path)
  max_pages: 10
```
Headers are the `request:` headers (the same credentials).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from monitor.providers.base import FailureKind, PollFailure, reason_text
from monitor.providers.http import decode_json, raise_for_http_status, request
from monitor.providers.http_json_settings import HttpJsonSettings, ListSettings
from monitor.providers.jmespath_support import Expression
from monitor.providers.timestamps import iso_or_epoch_time

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


async def list_jobs(
    client: httpx.AsyncClient,
    settings: HttpJsonSettings,
    listing: ListSettings,
    filters: dict[str, Any],
    since: datetime,
) -> list[str]:
    """Ids of the listed jobs created since `since` (all listed jobs when the
    block has no `created`), walking `next` pages up to `max_pages`."""
    url: str | None = _absolute(settings, _filled(listing.url, filters))
    items, ids, created = Expression(listing.items), Expression(listing.id), None
    if listing.created is not None:
        created = Expression(listing.created)
    found: list[str] = []
    for _ in range(listing.max_pages):
        if url is None:
            break
        payload = await _get(client, settings, url)
        for item in _search(items, payload) or []:
            job_id = _search(ids, item)
            if job_id is None or isinstance(job_id, dict | list):
                continue
            moment = iso_or_epoch_time(_search(created, item)) if created is not None else None
            if created is None or (moment is not None and moment >= since):
                found.append(str(job_id))
        following = _search(Expression(listing.next), payload) if listing.next else None
        # A link in the answer is resolved as a browser would, against the page it is on.
        url = urljoin(url, following) if isinstance(following, str) and following else None
    return list(dict.fromkeys(found))


def _filled(template: str, filters: dict[str, Any]) -> str:
    """`{NAME}` in the url template replaced by the discover: key NAME, URL-encoded."""
    wanted = set(_PLACEHOLDER.findall(template))
    missing, unused = sorted(wanted - set(filters)), sorted(set(filters) - wanted)
    if missing or unused:
        problem = f"list url needs discover key '{missing[0]}'" if missing else ""
        problem = problem or f"discover key '{unused[0]}' is not used by the list url"
        raise PollFailure(FailureKind.REJECTED, reason_text(problem))
    return _PLACEHOLDER.sub(lambda match: quote(str(filters[match.group(1)]), safe=""), template)


def _absolute(settings: HttpJsonSettings, url: str) -> str:
    if url.startswith("/"):
        return settings.base_url.rstrip("/") + url
    return url


async def _get(client: httpx.AsyncClient, settings: HttpJsonSettings, url: str) -> Any:
    headers = dict(settings.request.headers)
    response = await request(client, "GET", url, headers=headers)
    if not response.is_success:
        raise_for_http_status(
            response,
            not_found=settings.not_found_status,
            auth=settings.auth_status,
        )
    return decode_json(response)


def _search(expression: Expression, data: Any) -> Any:
    try:
        return expression.search(data)
    except Exception as error:  # a shape the expression does not expect
        problem = f"malformed job list: '{expression.text}' failed: {error}"
        raise PollFailure(FailureKind.MALFORMED, reason_text(problem)) from None
