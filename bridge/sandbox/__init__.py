"""An embedded, stateful Jira Service Management sandbox for the demo and the tests.

Start it with ``jsm-bridge sandbox`` or in-process::

    from bridge.sandbox.seed import build
    from bridge.sandbox.server import SandboxServer

    server = SandboxServer(build("demo", now=..., frozen=True), port=0, flavour="cloud").start()
    ...  # HTTP against server.url; server.store is the site, server.requests the request log
    server.stop()

Modules: ``store`` (the site's state, clock, persistence), ``render`` (Jira's JSON for
v2/v3, Cloud/Data Center), ``edits`` (write payloads → values, Jira's errors), ``routes``
(the route table, checked against Atlassian's specs), ``server`` (HTTP, auth, admin routes
under ``/_sandbox/``), ``faults`` (the fault spec), ``seed`` (demo world, empty site,
generator), ``specdata`` (the bundled spec schemas), ``jql`` (the query language).

Credentials: Cloud basic auth ``bridge@vendor.example:sandbox-token`` (agents
``agent-token``, portal customers ``customer-token``); Data Center bearer ``sandbox-token``
(agents ``pat-<name>``).

Deliberate differences from Jira, kept small: one project (SUP) and one issue type;
comments and property writes do not appear in the changelog (as in Jira) but comments bump
``updated``; ``expand=changelog`` returns up to the last 100 histories, oldest first.

``--flavour datacenter`` answers as Jira Data Center 9.x with JSM Data Center is documented
to: REST v2 only (no ``/rest/api/3``, no ``search/jql``, no workflow search: 404);
``/rest/api/2/search`` paged by ``startAt``/``total`` (at most 1,000 a page) with no issue
properties; users by ``name``/``key`` with ``emailAddress`` and no ``accountId`` or
``accountType``; comments without ``jsdPublic`` (internal ones carry the
``sd.public.comment`` property); bearer personal access tokens; ``deploymentType: "Server"``.
``SandboxServer.result_window`` (off by default, as 9.x) models a later site whose search
pages no deeper than that window and says so at ``searchLimits/maxResultWindow``.
Each route and renderer cites the Atlassian page it follows.
"""
