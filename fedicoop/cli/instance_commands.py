"""Commands that create, serve and administer one instance: init, serve, user, db."""

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from fedicoop.accounts.service import add_account, list_accounts
from fedicoop.config import load_config
from fedicoop.errors import Invalid
from fedicoop.instance import open_instance
from fedicoop.logs import configure as configure_logging


def register(commands: Any) -> None:
    """Add init, serve, user and db to the subcommand parser."""
    init = commands.add_parser(
        "init",
        help="create a new instance in DIR",
        description="Create DIR/fedicoop.toml, the database, the co-op's Group actor and an "
        "admin member; print the admin's handle and a generated password.",
    )
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--domain", required=True, help="public HOST[:PORT] of the instance")
    init.add_argument("--name", required=True, help='the co-op\'s name, e.g. "Vélo Coop"')
    init.add_argument("--handle", help="the co-op Group's handle (default: a slug of the name)")
    init.add_argument(
        "--database",
        metavar="URL",
        help="postgresql://user@host/db (default: a SQLite file inside DIR)",
    )
    init.add_argument(
        "--dev",
        action="store_true",
        help="serve plain http and federate with loopback/private peers (local testing only)",
    )
    init.add_argument("--admin", default="admin", metavar="USERNAME", help="admin's username")
    init.add_argument(
        "--admin-password", metavar="PW", help="admin's password (default: generated)"
    )
    init.set_defaults(run=run_init)

    serve = commands.add_parser(
        "serve",
        help="serve the instance until SIGTERM/SIGINT",
        description="Serve the instance over HTTP until SIGTERM or SIGINT, then stop cleanly.",
    )
    serve.add_argument("directory", metavar="DIR")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--port", type=int, help="port to listen on (default: the domain's port, else 8080)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="web processes sharing the port (PostgreSQL only when N > 1; default 1)",
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="with --workers: start no worker (run `fedicoop worker DIR` separately)",
    )
    serve.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        metavar="M",
        help="with --workers: how many worker processes to start beside them (default 1)",
    )
    # One process among several, started by `serve --workers` (web) or by hand.
    serve.add_argument("--role", choices=["all", "web"], default="all", help=argparse.SUPPRESS)
    serve.set_defaults(run=run_serve)

    user = commands.add_parser("user", help="add or list accounts", description="Manage accounts.")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    user_add = user_commands.add_parser(
        "add",
        help="create an approved member",
        description="Create an approved member; print the generated password if none is given.",
    )
    user_add.add_argument("directory", metavar="DIR")
    user_add.add_argument("username", metavar="USERNAME")
    user_add.add_argument("--password", metavar="PW", help="password (default: generated)")
    user_add.add_argument("--admin", action="store_true", help="make the account an admin")
    user_add.add_argument("--email", help="email address (also accepted as login)")
    user_add.set_defaults(run=run_user_add)
    user_list = user_commands.add_parser(
        "list", help="list accounts", description="List every account and its standing."
    )
    user_list.add_argument("directory", metavar="DIR")
    user_list.set_defaults(run=run_user_list)

    db = commands.add_parser("db", help="database maintenance", description="Database commands.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="apply schema migrations", description="Apply pending schema migrations."
    )
    upgrade.add_argument("directory", metavar="DIR")
    upgrade.set_defaults(run=run_db_upgrade)


async def run_init(args: argparse.Namespace) -> int:
    """Create the instance and print how to log in."""
    # Alembic and SQLAlchemy load only for the commands that migrate (not for `serve`).
    from fedicoop.bootstrap import init_instance

    result = await init_instance(
        Path(args.directory),
        domain=args.domain,
        name=args.name,
        handle=args.handle,
        database=args.database,
        dev=args.dev,
        admin_username=args.admin,
        admin_password=args.admin_password,
    )
    config = result.config
    print(f"Created {config.name} in {config.directory}")
    print(f"  co-op group: @{result.group_acct}")
    print(f"  admin:       @{result.admin_username}@{config.domain}")
    print(f"  password:    {result.admin_password}")
    print(f"  serve it:    fedicoop serve {args.directory}   then open {config.base_url}/")
    return 0


async def run_serve(args: argparse.Namespace) -> int:
    """Serve until a stop signal arrives."""
    from aiohttp import web

    from fedicoop.activitypub.runtime import Role
    from fedicoop.cli.process_commands import supervise
    from fedicoop.web.app import create_app

    if args.workers < 1:
        raise Invalid("--workers must be at least 1")
    if args.workers > 1 or args.no_worker:
        return await supervise(args)
    configure_logging()
    instance = await open_instance(args.directory)
    port = args.port or _port_of(instance.config.domain) or 8080
    role = Role(args.role)
    runner = web.AppRunner(create_app(instance, role=role), access_log=None)
    await runner.setup()
    # Web processes of one instance share the port; the kernel spreads connections.
    site = web.TCPSite(runner, args.host, port, reuse_port=role is Role.WEB)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        from fedicoop.errors import Unavailable

        raise Unavailable(f"cannot listen on {args.host}:{port}: {error.strerror}") from error
    print(
        f"fedicoop: serving {instance.config.name} at {instance.config.base_url}/ "
        f"(listening on http://{args.host}:{port}); Ctrl-C to stop",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("fedicoop: stopping", flush=True)
    await runner.cleanup()
    return 0


def _port_of(domain: str) -> int | None:
    return int(domain.rsplit(":", 1)[1]) if ":" in domain else None


async def run_user_add(args: argparse.Namespace) -> int:
    """Create a member and print the password when it was generated."""
    instance = await open_instance(args.directory)
    try:
        account, password = await add_account(
            instance, args.username, password=args.password, admin=args.admin, email=args.email
        )
    finally:
        await instance.close()
    role = "admin" if args.admin else "member"
    print(f"Added {role} @{account.username}@{instance.domain}")
    if args.password is None:
        print(f"  password: {password}")
    return 0


async def run_user_list(args: argparse.Namespace) -> int:
    """Print every account, one per line."""
    instance = await open_instance(args.directory)
    try:
        accounts = await list_accounts(instance)
    finally:
        await instance.close()
    width = max((len(a.acct) for a in accounts), default=10) + 2
    print(f"{'ACCOUNT':<{width}}{'STANDING':<12}CREATED")
    for account in accounts:
        print(f"{'@' + account.acct:<{width}}{account.standing:<12}{account.created_at[:19]}")
    return 0


async def run_db_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations to the instance's database."""
    from fedicoop.storage import migrate

    config = load_config(args.directory)
    before = await migrate.current_revision(config.database)
    after = await migrate.upgrade(config.database)
    if before == after:
        print(f"Database already at the newest schema ({after}).")
    else:
        print(f"Database upgraded from {before or 'nothing'} to {after}.")
    return 0
