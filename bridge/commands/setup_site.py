"""``jsm-bridge setup-site [--dry-run]``: create what the bridge needs on the Jira site.

The custom fields the config names (with their types and, for select lists, the
options the bridge writes and the rules test), then the saved filters leads need
("SLA at risk", "Breached this week", "Over quota this month"), printing each JQL.
Safe to run again: what exists is left alone (missing options are added, a filter
whose JQL drifted is updated).  Creating fields takes *Administer Jira*.  On Data
Center, whose REST API cannot add a select list's options, the options are printed
as a step for an administrator.
"""

from __future__ import annotations

import argparse

from bridge.commands._runtime import (
    EXIT_CONFIG,
    EXIT_OK,
    CommandError,
    jira_exit,
    load_config,
    setup_logging,
)
from bridge.jira.client import JiraClient
from bridge.jira.port import JiraError
from bridge.logs import complain
from bridge.sitesetup import setup_site


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    try:
        settings, ruleset = load_config(args)
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    flavour = settings.jira.flavour
    print(f"Jira site {settings.jira.url} ({flavour}){' — dry run' if args.dry_run else ''}")
    client = JiraClient.from_settings(settings.jira)
    try:
        changes = setup_site(client, settings, ruleset, dry_run=args.dry_run, say=print)
    except JiraError as exc:
        hint = ""
        if exc.status in (401, 403):
            hint = " (creating fields and options takes the Administer Jira permission)"
            complain(f"error: Jira refused: {exc}{hint}")
            return EXIT_CONFIG
        if exc.status == 404:
            complain(
                f"error: this Jira ({flavour}) does not offer the route: {exc}; create the fields"
                " listed above by hand (README: Setting up the Jira site)"
            )
            return EXIT_CONFIG
        complain(f"error: cannot use Jira at {settings.jira.url}: {exc}")
        return jira_exit(exc)  # 1 for a TLS failure or a page that is not Jira's, else 3
    finally:
        client.close()
    if args.dry_run:
        print(f"\n{changes} change(s) would be made; nothing was changed.")
    else:
        print(f"\n{changes} change(s) made. Next: jsm-bridge check --online")
    return EXIT_OK
