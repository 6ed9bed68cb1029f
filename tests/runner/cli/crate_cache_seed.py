"""Seeds rocrate-validator's HTTP cache (sqlite, requests-cache) at ARGV[1] with the RO-Crate
1.1 JSON-LD context, which this machine cannot fetch. The stand-in is ro-crate-py's bundled
context (rocrate/data/ro-crate.jsonld, RO-Crate 1.3's) with the four Bioschemas terms mapped
back to their RO-Crate 1.1 IRIs (1.3 moved them under bioschemas.org/terms/), the IRIs the
validator's profiles check; every schema.org term is the same in both."""

import io
import json
import sys
from importlib import resources

import requests
from requests_cache import CachedSession
from urllib3 import HTTPResponse

URL = "https://w3id.org/ro/crate/1.1/context"
session = CachedSession(
    cache_name=sys.argv[1],
    backend="sqlite",
    expire_after=-1,
    allowable_methods=("GET",),
    allowable_codes=(200, 302, 404),
)
context = json.loads((resources.files("rocrate") / "data" / "ro-crate.jsonld").read_text())
terms = context["@context"]
terms.update(
    {
        "ComputationalWorkflow": "https://bioschemas.org/ComputationalWorkflow",
        "FormalParameter": "https://bioschemas.org/FormalParameter",
        "input": "https://bioschemas.org/ComputationalWorkflow#input",
        "output": "https://bioschemas.org/ComputationalWorkflow#output",
    }
)
body = json.dumps(context).encode()
response = requests.Response()
response.status_code = 200
response._content = body
response.url = URL
response.headers["Content-Type"] = "application/ld+json"
response.encoding = "utf-8"
response.request = requests.Request("GET", URL).prepare()
raw = HTTPResponse(
    body=io.BytesIO(body),
    headers={"Content-Type": "application/ld+json"},
    status=200,
    preload_content=False,
    request_url=URL,
)
response.raw = raw
session.cache.save_response(response)
