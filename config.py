"""One frozen Config, built by a pure function from a mapping of settings.

`config_from_environment()` is the only place that reads the process: real environment
variables win over a `.env` file (beside this module in a clone, in the user config
directory when installed; see env_file(); never the working directory). Tests call `load_config({...})` with a plain dict.
Every setting is listed, with a comment, in `.env.example`.
"""
from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote

from domain import secrets
from domain.errors import InvalidInput

SERVER_DIR = Path(__file__).resolve().parent


def node_label(host: str, port: int) -> str:
    """One node as messages name it: host:port, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the data lives and how long to wait for it. (A docstring also spares @dataclass
    from writing one out of inspect.signature at every start.)"""

    kind: str  # "mysql" or "sqlite"
    host: str = ""
    port: int = 3306
    # Every node DATABASE_URL names (mysql://u@h1:p1,h2:p2/db), first to last; host and port
    # are the first. More than one: a Galera cluster, and an instance moves to the next node
    # when its node dies or is not ready (README "Deployments"). Empty: just host:port.
    hosts: tuple[tuple[str, int], ...] = ()
    user: str = ""
    password: str = field(default="", repr=False)  # never in a log line or a message
    name: str = ""
    sqlite_path: Path | None = None
    connect_timeout: float = 5.0
    # A MariaDB statement (and the login handshake) that gets no answer for this long is
    # abandoned: a server that accepts connections but never answers cannot hold a call.
    query_timeout: float = 30.0

    def describe(self) -> str:
        """Where the data lives, for messages: never the password."""
        if self.kind == "sqlite":
            return f"SQLite file {self.sqlite_path}"
        return f"MariaDB/MySQL at {self.where()}, database {self.name!r}, user {self.user!r}"

    def where(self) -> str:
        """host:port, or every node of a list (h1:p1,h2:p2)."""
        return ",".join(node_label(h, p) for h, p in self.nodes())

    def nodes(self) -> tuple[tuple[str, int], ...]:
        """(host, port) of every node to try, in the order DATABASE_URL names them."""
        return self.hosts or ((self.host, self.port),)

    @property
    def tls_disabled(self) -> bool:
        """True for a MariaDB/MySQL on this machine (localhost, 127.0.0.0/8, ::1), where TLS
        protects no wire. PyMySQL 1.2 otherwise tries TLS on every connection it opens
        ("preferred", without verifying the certificate): it loads the system's CA bundle
        for each one (90-110 ms of CPU on the 2-core test VM), and against a server with TLS on
        (MariaDB 11.4+, MySQL 8 by default) it encrypts every packet of every statement. (The
        mariadb and mysql command-line clients reach `localhost` over the Unix socket, where
        TLS does not apply either.) Any other host keeps PyMySQL's default."""
        host = self.host.strip("[]").lower()
        return host in ("localhost", "::1") or (host.startswith("127.") and host.replace(".", "").isdigit())


@dataclass(frozen=True)
class Config:
    """Every setting of one server process; made by load_config(), never changed after."""

    database: DatabaseSettings
    database_source: str  # which setting chose the database, named in connection errors
    actor: str = "mcp-tasks"
    actor_type: str = "ai"
    ollama_host: str = "http://localhost:11434"
    ollama_model: str = "mistral"
    ollama_timeout: float = 300.0
    # Bounds of one tasks_execute run (see .env.example): its whole time, and its answer's size.
    ollama_max_seconds: float = 600.0
    ollama_max_response_bytes: int = 8 * 1024 * 1024
    # Tokens one answer may have (options.num_predict); a call's max_tokens may only lower it.
    ollama_max_tokens: int = 4096
    ollama_system_prompt: str | None = None
    ollama_prices: str = ""
    execute_response_cap: int = 20_000
    contracts_dirs: tuple[Path, ...] = (SERVER_DIR / "contracts",)
    quality_allowed_paths: tuple[Path, ...] = ()
    quality_gate: bool = True
    # Bounds of the quality tools (README "Bounds of the quality tools"); a tripped one is a
    # refusal or a partial result that names it, never a hang.
    quality_max_files: int = 50_000
    quality_max_file_bytes: int = 2 * 1024 * 1024
    quality_max_total_bytes: int = 256 * 1024 * 1024
    quality_max_seconds: float = 60.0
    contract_max_bytes: int = 1_000_000
    contract_max_nodes: int = 20_000
    lease_minutes: float = 30.0
    max_attempts: int = 3
    # Seconds an MCP task's record (the 2026 Tasks extension: tasks_execute, quality_check) is
    # kept after it was created; tasks/get answers for it until then (its ttlMs).
    mcp_task_ttl_seconds: float = 86_400.0
    # Days the change feed (task_changes) keeps a change: init-db and a running watcher prune
    # older rows; a client resuming from before that is told to reload (a "pruned" change).
    change_feed_keep_days: float = 30.0
    log_level: str = "INFO"
    read_only: bool = False  # write tools unlisted, database session read-only
    # MCP_TASKS_TOOLS: profile and tool names (tools/profiles.py), lower-cased; checked when the server is built.
    tool_profile: tuple[str, ...] = ("standard",)
    # HTTP transport (server.py serve --transport http); the command line overrides these.
    transport: str = "stdio"
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    http_stateless: bool = False
    # (name, key) pairs: a request's bearer key decides its default actor. Never logged.
    api_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # (name, role) for the keys given a role (name:key:role); a key without one has every right.
    api_key_roles: tuple[tuple[str, str], ...] = ()
    # OAuth 2.1 resource server (README "Sign-in and roles"): the authorization server's issuer,
    # the audience tokens must name (default: this server's /mcp URL), and where its keys are.
    oauth_issuer: str | None = None
    oauth_audience: str | None = None
    oauth_jwks_url: str | None = None
    oauth_client_id: str | None = None  # the board's public client at the issuer: people sign in with code + PKCE
    allowed_hosts: tuple[str, ...] = ()  # extra Host header values (a load balancer's name)
    allowed_origins: tuple[str, ...] = ()  # extra browser Origins
    # Stateful HTTP sessions one API key may hold open (without keys: all clients together),
    # so one client cannot take every slot of the SDK's overall limit.
    http_max_sessions_per_key: int = 50
    http_max_sessions: int = 10_000  # all keys together (the SDK's own limit)
    http_session_idle_timeout: float = 1800.0  # seconds without a request before a session is closed

    @property
    def change_feed_keep_seconds(self) -> float:
        return self.change_feed_keep_days * 86400


def bounds(config: Config) -> list[str]:
    """The limits that keep one client, statement or session from holding the server, for doctor."""
    db = config.database
    lines = [f"DB_CONNECT_TIMEOUT={db.connect_timeout:g} s (connecting)"]
    if db.kind == "mysql":
        lines.append(f"DB_QUERY_TIMEOUT={db.query_timeout:g} s (one MariaDB statement without an answer)")
    lines += [
        f"OLLAMA_TIMEOUT={config.ollama_timeout:g} s", f"OLLAMA_MAX_TOKENS={config.ollama_max_tokens} tokens per answer",
        f"EXECUTE_RESPONSE_CAP={config.execute_response_cap} characters",
        f"LEASE_MINUTES={config.lease_minutes:g}", f"MAX_ATTEMPTS={config.max_attempts}",
        f"CHANGE_FEED_KEEP_DAYS={config.change_feed_keep_days:g} (older changes are pruned)",
        f"MCP_HTTP_MAX_SESSIONS_PER_KEY={config.http_max_sessions_per_key}", f"MCP_HTTP_MAX_SESSIONS={config.http_max_sessions}",
        f"MCP_HTTP_SESSION_IDLE_TIMEOUT={config.http_session_idle_timeout:g} s",
    ]
    return lines


def default_data_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """The per-user data directory (what platformdirs would say, without the dependency)."""
    return _user_dir(env, platform, ("LOCALAPPDATA", "Local"), ("XDG_DATA_HOME", ".local/share"))


def _user_dir(env: Mapping[str, str], platform: str, windows: tuple[str, str], xdg: tuple[str, str]) -> Path:
    """<per-user base>/mcp-tasks: %<var>% or AppData/<fallback> on Windows, Application
    Support on macOS, $<var> or ~/<fallback> elsewhere."""
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform == "win32":
        base = Path(env.get(windows[0]) or home / "AppData" / windows[1])
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get(xdg[0]) or home / xdg[1])
    return base / "mcp-tasks"


def _number(env: Mapping[str, str], key: str, default: float, cast=float, low: float = 0) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise InvalidInput(f"Setting {key}={raw!r} is not a number. Set it to a number ≥ {low}, or remove it.") from None
    if value < low:
        raise InvalidInput(f"Setting {key}={raw!r} is below {low}. Set it to a number ≥ {low}.")
    return value


def _at_most(value, key: str, high):
    if value > high:
        raise InvalidInput(f"Setting {key}={value} is above {high}. Set it to at most {high}.")
    return value


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"Setting {key}={raw!r} is not a yes/no value. Use true or false.")


API_KEY_MIN_LENGTH = 16


def parse_api_keys(raw: str) -> tuple[tuple[str, str], ...]:
    """`MCP_API_KEYS=alice:key1,ci-bot:key2`: each key's name becomes the actor of its calls."""
    return tuple((name, key) for name, key, _role in parse_api_key_entries(raw))


def parse_api_key_entries(raw: str) -> tuple[tuple[str, str, str | None], ...]:
    """(name, key, role) per entry of `MCP_API_KEYS=alice:key1,ci-bot:key2:write`; role is None
    when the entry gives none (the key keeps every right, as before roles existed)."""
    from domain.roles import ROLES

    keys: list[tuple[str, str, str | None]] = []
    for number, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        name, sep, key = entry.partition(":")
        name, key = name.strip(), key.strip()
        # A role is the last part after a colon, and only when it is one of the four words
        # (a key made by token_urlsafe has no colon).
        head, colon, last = key.rpartition(":")
        role = last.strip() if colon and last.strip() in ROLES else None
        if role:
            key = head.strip()
        elif colon and len(last.strip()) < API_KEY_MIN_LENGTH:
            raise InvalidInput(
                f"Setting MCP_API_KEYS, entry {number}: the role after the last colon is not one of "
                f"{', '.join(ROLES)}. Write name:key:role, e.g. ci-bot:<key>:write, or name:key for every right."
            )
        # Messages name the entry by position and name only: a key never appears in a message.
        if not sep or not name or not key:
            raise InvalidInput(
                f"Setting MCP_API_KEYS, entry {number}, is not name:key. Write MCP_API_KEYS=alice:<key>,ci-bot:<key>."
            )
        # Either part may be a key written in the wrong place (key:name), so no message quotes
        # either part: the entry is named by its position only. A key too short is refused
        # before it is registered for masking: "secret" would mask the hint's "import secrets".
        if len(name) > 100:
            raise InvalidInput(f"Setting MCP_API_KEYS, entry {number}: the name is longer than 100 characters.")
        if len(key) >= API_KEY_MIN_LENGTH:
            secrets.register(key)
        else:
            raise InvalidInput(
                f"Setting MCP_API_KEYS, entry {number}: the key (after the colon) is shorter than {API_KEY_MIN_LENGTH} "
                "characters. The form is name:key, the name first. Make a key with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'."
            )
        if any(key == other for _, other, _ in keys):
            raise InvalidInput(f"Setting MCP_API_KEYS, entry {number}, has the same key as another entry. Give every name its own key.")
        if any(name == other and role != other_role for other, _, other_role in keys):
            raise InvalidInput(f"Setting MCP_API_KEYS, entry {number}: {name!r} has another role in an earlier entry. "
                               "Give each name one role.")
        keys.append((name, key, role))
    return tuple(keys)


def _secure_url(env: Mapping[str, str], key: str) -> str | None:
    """An https URL, or http on loopback only (a token's keys must not come over a wire anyone can change)."""
    from urllib.parse import urlsplit

    raw = env.get(key, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    loopback = host in ("localhost", "::1") or (host.startswith("127.") and host.replace(".", "").isdigit())
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment:
        raise InvalidInput(f"Setting {key}={raw!r} is not an http(s) URL. Give the URL, e.g. https://id.example.com/realms/team.")
    if parts.scheme == "http" and not loopback:
        raise InvalidInput(f"Setting {key}={raw!r} uses plain http on a host other than this machine. Use https "
                           "(http:// is accepted only for 127.0.0.1, ::1 or localhost).")
    return raw


def _list(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _paths(raw: str, relative_to: Path) -> tuple[Path, ...]:
    parts = [p.strip() for p in raw.replace(";", os.pathsep).split(os.pathsep) if p.strip()]
    return tuple((relative_to / Path(p).expanduser()).resolve() for p in parts)


@functools.cache
def installed() -> bool:
    """Whether this tree is the installed package (site-packages/mcp_tasks beside its
    dist-info), not a clone: what messages name as the command, where a file may not live."""
    return SERVER_DIR.name == "mcp_tasks" and any(SERVER_DIR.parent.glob("mcp_tasks-*.dist-info"))


SQLITE_URLS = "sqlite:///tasks.db (relative to the working directory) or sqlite:////absolute/path/tasks.db"


def parse_database_url(url: str, cwd: Path | None = None) -> DatabaseSettings:
    """`mysql://user:pass@host:3306/db` (also mariadb://, mysql+pymysql://), or SQLite as
    SQLAlchemy spells it: `sqlite:///rel.db` relative to `cwd` (the working directory),
    `sqlite:////abs/path.db` absolute."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if not rest:
        raise InvalidInput(f"Setting DATABASE_URL is not a URL. Use mysql://user:password@host:3306/database or {SQLITE_URLS}.")
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise InvalidInput(
                f"Setting DATABASE_URL={url[:80]!r} has no third slash: SQLite URLs are {SQLITE_URLS}, as in SQLAlchemy."
            )
        path = Path(unquote(rest[1:])).expanduser()  # "/abs" stays absolute; "rel" is relative
        if not path.is_absolute():
            path = (cwd or Path(os.getcwd())) / path
        if installed() and path.resolve().is_relative_to(SERVER_DIR):
            raise InvalidInput(
                f"Setting DATABASE_URL puts the SQLite file inside the installed package ({SERVER_DIR}), which an "
                f"upgrade or uninstall deletes. Give a path outside it: {SQLITE_URLS}."
            )
        return DatabaseSettings(kind="sqlite", sqlite_path=path)
    if scheme in ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"):
        return _parse_mysql_url(rest)
    raise InvalidInput(
        f"Setting DATABASE_URL has the scheme {scheme!r}, which is not supported. Use mysql:// (MariaDB or MySQL) or sqlite:///."
    )


def _parse_mysql_url(rest: str) -> DatabaseSettings:
    """user:password@host:port/name, split by hand: urlsplit ends the userinfo at the first
    `/`, so a password with an unencoded `/` became host, port and database name (and was
    shown as the "database name"). The last `@` before the host ends the userinfo instead."""
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    userinfo, at, location = rest.rpartition("@")
    if not at:
        location = rest
    hosts_text, _, name = location.partition("/")
    user, _, password = userinfo.partition(":")
    user, password, name = unquote(user), unquote(password), unquote(name.strip("/"))
    secrets.register(password)  # before any refusal below could quote the URL
    # h1:p1,h2:p2: the nodes of a Galera cluster, tried in this order (README "Deployments").
    nodes = tuple(_host_port(part) for part in hosts_text.split(","))
    if len(nodes) > 1 and not all(host for host, _ in nodes):
        raise InvalidInput(
            "Setting DATABASE_URL names an empty host in its list of nodes. Write them as "
            "mysql://user@host1:3306,host2:3306/database, separated by single commas."
        )
    if not name:
        raise InvalidInput("Setting DATABASE_URL names no database. Add it as the path: mysql://user@host:3306/ki_protokoll.")
    host, port = nodes[0]
    return DatabaseSettings(
        kind="mysql", host=host or "127.0.0.1", port=port, user=user or "root", password=password,
        name=name, hosts=nodes if len(nodes) > 1 else (),
    )


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:3306
        host, _, port_text = text[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if port_text and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise InvalidInput(
            "Setting DATABASE_URL has a port that is not a number from 1 to 65535 (use e.g. :3306). If the password "
            "contains / : @ ? or #, write them percent-encoded (%2F %3A %40 %3F %23)."
        )
    return host, int(port_text or 3306)


def load_config(env: Mapping[str, str]) -> Config:
    """Build the Config from a mapping of settings; raises InvalidInput naming a bad setting."""
    timeout = _number(env, "DB_CONNECT_TIMEOUT", 5.0, low=0.1)
    query_timeout = _number(env, "DB_QUERY_TIMEOUT", 30.0, low=0.1)
    cwd = Path(env.get("PWD") or os.getcwd())
    if env.get("DATABASE_URL", "").strip():
        database = parse_database_url(env["DATABASE_URL"].strip(), cwd)
        source = "DATABASE_URL"
    elif any(env.get(k, "").strip() for k in ("DB_HOST", "DB_NAME", "DB_USER")):
        database = DatabaseSettings(
            kind="mysql",
            host=env.get("DB_HOST", "").strip() or "127.0.0.1",
            port=int(_number(env, "DB_PORT", 3306, int, 1)),
            user=env.get("DB_USER", "").strip() or "root",
            password=env.get("DB_PASSWORD", ""),
            name=env.get("DB_NAME", "").strip() or "ki_protokoll",
        )
        source = "DB_HOST/DB_PORT/DB_USER/DB_PASSWORD/DB_NAME"
    else:
        database = DatabaseSettings(kind="sqlite", sqlite_path=default_data_dir(env) / "tasks.db")
        source = "DATABASE_URL (unset, so the embedded SQLite file is used)"
    database = DatabaseSettings(**{**database.__dict__, "connect_timeout": timeout, "query_timeout": query_timeout})
    secrets.register(database.password)

    actor_type = env.get("MCP_TASKS_ACTOR_TYPE", "ai").strip() or "ai"
    if actor_type not in ("human", "ai"):
        raise InvalidInput(f"Setting MCP_TASKS_ACTOR_TYPE={actor_type!r} is not allowed. Use human or ai.")
    transport = (env.get("MCP_TRANSPORT", "").strip() or "stdio").lower()
    if transport not in ("stdio", "http"):
        raise InvalidInput(f"Setting MCP_TRANSPORT={transport!r} is not allowed. Use stdio or http.")
    http_port = int(_number(env, "MCP_HTTP_PORT", 8765, int, 1))
    if http_port > 65535:
        raise InvalidInput(f"Setting MCP_HTTP_PORT={http_port} is not a TCP port. Use 1 to 65535.")
    key_entries = parse_api_key_entries(env.get("MCP_API_KEYS", ""))
    if env.get("MCP_OAUTH_JWKS_URL", "").strip() and not env.get("MCP_OAUTH_ISSUER", "").strip():
        raise InvalidInput("Setting MCP_OAUTH_JWKS_URL needs MCP_OAUTH_ISSUER too: tokens are checked against the issuer.")
    return Config(
        database=database,
        database_source=source,
        actor=(env.get("MCP_TASKS_ACTOR", "").strip() or "mcp-tasks")[:100],
        actor_type=actor_type,
        ollama_host=(env.get("OLLAMA_HOST", "").strip() or "http://localhost:11434").rstrip("/"),
        ollama_model=env.get("OLLAMA_MODEL", "").strip() or "mistral",
        ollama_timeout=_number(env, "OLLAMA_TIMEOUT", 300.0, low=0.1),
        ollama_max_seconds=_number(env, "OLLAMA_MAX_SECONDS", 600.0, low=1),
        ollama_max_response_bytes=_at_most(
            int(_number(env, "OLLAMA_MAX_RESPONSE_BYTES", 8 * 1024 * 1024, int, 1024)), "OLLAMA_MAX_RESPONSE_BYTES", 8 * 1024 * 1024
        ),
        # At most 2**20: far beyond any model's context, so a larger number can only be a typo.
        ollama_max_tokens=_at_most(int(_number(env, "OLLAMA_MAX_TOKENS", 4096, int, 1)), "OLLAMA_MAX_TOKENS", 1_048_576),
        ollama_system_prompt=env.get("OLLAMA_SYSTEM_PROMPT", "").strip() or None,
        ollama_prices=env.get("OLLAMA_PRICES", "").strip(),
        execute_response_cap=int(_number(env, "EXECUTE_RESPONSE_CAP", 20_000, int, 100)),
        contracts_dirs=_paths(env.get("CONTRACTS_DIR", ""), SERVER_DIR) or (SERVER_DIR / "contracts",),
        quality_allowed_paths=_paths(env.get("QUALITY_ALLOWED_PATHS", ""), cwd) or (cwd.resolve(),),
        quality_gate=_flag(env, "QUALITY_GATE", True),
        quality_max_files=int(_number(env, "QUALITY_MAX_FILES", 50_000, int, 1)),
        quality_max_file_bytes=int(_number(env, "QUALITY_MAX_FILE_BYTES", 2 * 1024 * 1024, int, 1)),
        quality_max_total_bytes=int(_number(env, "QUALITY_MAX_TOTAL_BYTES", 256 * 1024 * 1024, int, 1)),
        quality_max_seconds=_number(env, "QUALITY_MAX_SECONDS", 60.0, low=0.1),
        contract_max_bytes=int(_number(env, "CONTRACT_MAX_BYTES", 1_000_000, int, 100)),
        contract_max_nodes=int(_number(env, "CONTRACT_MAX_NODES", 20_000, int, 10)),
        lease_minutes=_number(env, "LEASE_MINUTES", 30.0, low=0.001),
        max_attempts=int(_number(env, "MAX_ATTEMPTS", 3, int, 1)),
        mcp_task_ttl_seconds=_number(env, "MCP_TASK_TTL_SECONDS", 86_400.0, low=1.0),
        change_feed_keep_days=_number(env, "CHANGE_FEED_KEEP_DAYS", 30.0, low=0.1),
        log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        read_only=_flag(env, "READ_ONLY", False),
        tool_profile=tuple(name.lower() for name in _list(env.get("MCP_TASKS_TOOLS", ""))) or ("standard",),
        transport=transport,
        http_host=env.get("MCP_HTTP_HOST", "").strip() or "127.0.0.1",
        http_port=http_port,
        http_stateless=_flag(env, "MCP_HTTP_STATELESS", False),
        api_keys=tuple((name, key) for name, key, _ in key_entries),
        api_key_roles=tuple({name: role for name, _, role in key_entries if role}.items()),
        oauth_issuer=_secure_url(env, "MCP_OAUTH_ISSUER"),
        oauth_audience=env.get("MCP_OAUTH_AUDIENCE", "").strip() or None,
        oauth_jwks_url=_secure_url(env, "MCP_OAUTH_JWKS_URL"),
        oauth_client_id=env.get("MCP_OAUTH_CLIENT_ID", "").strip() or None,
        allowed_hosts=_list(env.get("MCP_ALLOWED_HOSTS", "")),
        allowed_origins=_list(env.get("MCP_ALLOWED_ORIGINS", "")),
        http_max_sessions_per_key=int(_number(env, "MCP_HTTP_MAX_SESSIONS_PER_KEY", 50, int, 1)),
        http_max_sessions=int(_number(env, "MCP_HTTP_MAX_SESSIONS", 10_000, int, 1)),
        http_session_idle_timeout=_number(env, "MCP_HTTP_SESSION_IDLE_TIMEOUT", 1800.0, low=1),
    )


def user_config_dir(env: Mapping[str, str], platform: str = sys.platform) -> Path:
    """Where an installed server's `.env` lives (what platformdirs would say, without the dependency)."""
    return _user_dir(env, platform, ("APPDATA", "Roaming"), ("XDG_CONFIG_HOME", ".config"))


def env_file(env: Mapping[str, str]) -> Path | None:
    """The `.env` to read: MCP_TASKS_ENV_FILE, else the one beside server.py (a clone), else the
    user config directory's (an installed package, whose server.py sits in site-packages).
    Never the working directory: clients start the server in any project, whose own .env
    (a web app's DATABASE_URL, say) is not ours."""
    explicit = env.get("MCP_TASKS_ENV_FILE", "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InvalidInput(f"Setting MCP_TASKS_ENV_FILE={explicit!r} names no file. Point it at a .env file, or remove it.")
        return path
    for path in (SERVER_DIR / ".env", user_config_dir(env) / ".env"):
        if path.is_file():
            return path
    return None


def config_from_environment() -> Config:
    """The settings of this process: the environment over the `.env` file that env_file() finds."""
    values: dict[str, str] = {}
    path = env_file(os.environ)
    if path:  # python-dotenv costs ~4 ms of start-up: only when there is a file
        from dotenv import dotenv_values  # only here: tests build Configs from dicts

        values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    values.update(os.environ)
    return load_config(values)
