"""One SCIM client for the tests: the Flask client with a bearer token and SCIM content type."""

from __future__ import annotations

from typing import Any

SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


class ScimClient:
    """The Flask test client with the bearer token and SCIM content type set."""

    def __init__(self, client: Any, token: str, user_agent: str = "pytest") -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent}

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Send a request to /scim/v2<path>."""
        h = {**self.headers, **headers}
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            kwargs["json"] = body
            h.setdefault("Content-Type", "application/scim+json")
        return self.client.open(f"/scim/v2{path}", method=method, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        """GET."""
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, body, **headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, body, **headers)

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        """PATCH a JSON body."""
        return self.request("PATCH", path, body, **headers)

    def delete(self, path: str, **headers: str) -> Any:
        """DELETE."""
        return self.request("DELETE", path, **headers)

    def search(self, path: str, flt: str | None = None, **params: Any) -> Any:
        """POST a SearchRequest to ``path`` (``/Users/.search``, ``/.search``)."""
        body: dict[str, Any] = {"schemas": [SEARCH_URN], **params}
        if flt is not None:
            body["filter"] = flt
        return self.post(path, body)

    def ids(self, path: str) -> set[str]:
        """The ids a GET or a ``.search`` path lists (count large enough for a test)."""
        if path.endswith(".search"):
            response = self.search(path, count=1000)
        else:
            sep = "&" if "?" in path else "?"
            response = self.get(f"{path}{sep}count=1000")
        assert response.status_code == 200, response.get_json()
        return {r["id"] for r in response.get_json()["Resources"]}
