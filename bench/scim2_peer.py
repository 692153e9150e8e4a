"""The SCIM peer of bench/run: scim2-server (the python-scim reference server, PyPI) serving a
team of N users and a group holding all of them, preloaded in memory, then the same requests
as Roster gets. Prints one JSON line (port, group id, a user outside the group) when ready.

Usage: scim2_peer.py PORT TOKEN USERS
"""

import datetime
import json
import sys
import uuid
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from scim2_models import Group, GroupMember, Meta, ScimProvider, User
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    storage = InMemoryStorage()
    now = datetime.datetime.now(datetime.timezone.utc)

    def meta(kind: str, version: int) -> Meta:
        return Meta(resource_type=kind, created=now, last_modified=now, version=f'W/"{version}"')

    users = []
    for i in range(1, n + 2):
        user = User(user_name=f"person{i:06d}@bench.example.com")
        user.id = uuid.uuid4().hex
        user.meta = meta("User", i)
        users.append(user)
    outside = users.pop()
    group = Group(
        display_name="Everyone",
        members=[GroupMember(value=u.id, type="User") for u in users],
    )
    group.id = uuid.uuid4().hex
    group.meta = meta("Group", 0)
    storage.resources = [*users, outside, group]
    app = BearerTokenApplication(
        storage, provider, service=ScimService(provider, secret="bench"), bearer_tokens=[token]
    )
    with make_server(
        "127.0.0.1", port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    ) as server:
        print(json.dumps({"group": group.id, "outside": outside.id}), flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
