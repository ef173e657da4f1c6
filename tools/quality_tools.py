"""The quality tools: MCP registration only. Contracts are read from CONTRACTS_DIR on each
call (a few small files: an edited contract counts at once, without a restart); the check
reads only inside QUALITY_ALLOWED_PATHS and never writes a file or runs a program.
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from domain.errors import InvalidInput
from domain.models import ID_MAX, NAME_MAX, CommentType
from tools.common import ResultModel, actor, app, respond
from tools.lean_schema import READ_ONLY, WRITES

if TYPE_CHECKING:  # for the annotations only: the engine itself is imported on first use (below)
    from infrastructure.contract_loader import ContractCatalog
    from validators.contract_rules import Contract

# The contract engine (loader, rules, checker, report: ~9 ms of imports) is imported on the
# first quality call, not at start-up: every client launch pays for what is imported here.

StatusName = Literal["draft", "active", "deprecated"]
SeverityName = Literal["critical", "major", "minor", "info"]
VerdictName = Literal["approved", "approved_with_notes", "revision_required", "rejected"]

READ = ToolAnnotations(**READ_ONLY)  # the hints the spec's defaults do not already give (tools/lean_schema.py)
# quality_check reads files only, but with task_id it adds a comment to the task.
CHECK = ToolAnnotations(**WRITES)

DESCRIPTION_PREVIEW = 200


# ---- result models ------------------------------------------------------------------------


class Scope(ResultModel):
    paths: list[str]
    excludes: list[str]


class ContractRow(ResultModel):
    name: str
    version: str
    status: str
    description: str
    rules: int = Field(description="Number of rules.")
    scope: Scope


class LoadError(ResultModel):
    file: str
    line: Optional[int]
    reason: str


class ContractList(ResultModel):
    contracts: list[ContractRow]
    total: int
    load_errors: list[LoadError] = Field(description="Files that failed to load; the other contracts still work.")


class SchemaIssue(ResultModel):
    location: str = Field(description="Where in the document, e.g. contract.rules[2].severity.")
    line: Optional[int] = Field(description="Line in the YAML, when known.")
    message: str


class ContractValidation(ResultModel):
    valid: bool
    contract: Optional[ContractRow] = Field(description="The contract, when valid.")
    file: Optional[str] = Field(description="The file checked, when a name was given.")
    errors: list[SchemaIssue]


class Counts(ResultModel):
    critical: int
    major: int
    minor: int
    info: int


class QualityViolation(ResultModel):
    file: str = Field(description="Relative to path.")
    line: int
    rule_id: str
    severity: SeverityName
    message: str
    match: str = Field(description="Matched text, at most 120 characters; [redacted] for secrets.")
    contract: str


class ContractVerdict(ResultModel):
    name: str
    version: str
    verdict: VerdictName
    counts: Counts


class QualityReport(ResultModel):
    path: str = Field(description="The real path that was checked.")
    verdict: VerdictName
    counts: Counts
    total_violations: int
    violations: list[QualityViolation] = Field(description="Sorted by file and line; at most max_violations, the most severe kept.")
    truncated: bool = Field(description="True when more violations were found than listed.")
    critical_rules: list[str]
    contracts: list[ContractVerdict]
    files_scanned: int
    lines_scanned: int
    skipped: dict[str, int] = Field(description="Files not checked, by reason (binary, too_large, out_of_scope, ...).")
    duration_ms: int
    budget_exhausted: Optional[Literal["files", "seconds", "bytes"]] = Field(description="Which budget cut the check short, if any.")
    task_comment_id: Optional[int] = Field(default=None, description="The comment stored on task_id, if given.")
    report: Optional[str] = Field(default=None, description="The Markdown report, when format='markdown'.")


def _row(contract: "Contract") -> ContractRow:
    summary = contract.summary()
    description = summary["description"]
    if len(description) > DESCRIPTION_PREVIEW:
        description = description[: DESCRIPTION_PREVIEW - 3] + "..."
    return ContractRow(
        name=summary["name"], version=summary["version"], status=summary["status"], description=description,
        rules=summary["rules"], scope=Scope(**summary["scope"]),
    )


def _catalog(ctx: Context) -> "ContractCatalog":
    from infrastructure.contract_loader import load_contracts

    config = app(ctx).config
    return load_contracts(config.contracts_dirs, max_bytes=config.contract_max_bytes, max_nodes=config.contract_max_nodes)


def register_quality_tools(mcp: MCPServer) -> None:
    @mcp.tool(title="List quality contracts", annotations=READ, structured_output=False)
    def contracts_list(
        ctx: Context,
        status: Annotated[Optional[StatusName], Field(description="Only contracts in this status.")] = None,
        search: Annotated[
            Optional[str], Field(max_length=200, description="Text in the name, description or a rule id.")
        ] = None,
    ) -> Annotated[CallToolResult, ContractList]:
        """List the quality contracts (versioned YAML code rules) quality_check applies, and files that failed to load."""
        catalog = _catalog(ctx)
        needle = (search or "").strip().lower()
        rows = [
            _row(c)
            for c in catalog.contracts
            if (status is None or c.status == status)
            and (not needle or needle in f"{c.name} {c.description} {' '.join(r.id for r in c.rules)}".lower())
        ]
        return respond(ContractList(contracts=rows, total=len(rows), load_errors=[LoadError(**e) for e in catalog.load_errors]))

    @mcp.tool(title="Validate a contract", annotations=READ, structured_output=False)
    def contracts_validate(
        ctx: Context,
        name: Annotated[Optional[str], Field(max_length=NAME_MAX, description="A contract in CONTRACTS_DIR, by name.")] = None,
        yaml: Annotated[
            Optional[str], Field(max_length=1_000_000, description="A contract's YAML text, to check before saving it.")
        ] = None,
    ) -> Annotated[CallToolResult, ContractValidation]:
        """Check a contract against the schema: give name (a loaded or broken contract file) or yaml (text). Lists every error with its location."""
        if (name is None) == (yaml is None):
            raise InvalidInput("Give exactly one of name (a contract in CONTRACTS_DIR) or yaml (the text of a contract).")
        if yaml is not None:
            from infrastructure.contract_loader import parse_contract_yaml

            config = app(ctx).config
            contract, errors = parse_contract_yaml(yaml, max_bytes=config.contract_max_bytes, max_nodes=config.contract_max_nodes)
            return respond(ContractValidation(
                valid=contract is not None, contract=_row(contract) if contract else None, file=None,
                errors=[SchemaIssue(**e) for e in errors],
            ))
        catalog = _catalog(ctx)
        broken = catalog.errors_of(name)
        if broken is not None and all(c.name != name for c in catalog.contracts):
            file, errors = broken
            return respond(ContractValidation(valid=False, contract=None, file=file, errors=[SchemaIssue(**e) for e in errors]))
        contract = catalog.get(name)
        return respond(ContractValidation(valid=True, contract=_row(contract), file=contract.source, errors=[]))

    @mcp.tool(title="Check code quality", annotations=CHECK, structured_output=False)
    def quality_check(
        ctx: Context,
        path: Annotated[
            str,
            Field(min_length=1, max_length=4096, description="File or directory in QUALITY_ALLOWED_PATHS; relative to the first."),
        ],
        contract: Annotated[
            Optional[str], Field(max_length=NAME_MAX, description="One contract; default: all active.")
        ] = None,
        task_id: Annotated[
            Optional[int],
            Field(ge=1, le=ID_MAX, description="Record the summary on this task."),
        ] = None,
        format: Annotated[Literal["json", "markdown"], Field(description="markdown: a report for people.")] = "json",
        max_violations: Annotated[int, Field(ge=1, le=2000, description="Most to list; counts cover all.")] = 200,
    ) -> Annotated[CallToolResult, QualityReport]:
        """Check code against the quality contracts: verdict, counts, violations with file and line. Run it with task_id before completing a coding task: critical violations block completion. Reads files only."""
        state = app(ctx)
        from infrastructure.quality_checker import run_quality_check
        from validators.quality_report import format_markdown, summarise

        catalog = _catalog(ctx)
        contracts = [catalog.get(contract)] if contract else catalog.active()
        if task_id is not None:
            state.repository.get_task(task_id)  # an unknown task fails before the tree is read
        config = state.config
        result = run_quality_check(
            path, contracts, config.quality_allowed_paths, max_violations=max_violations, max_files=config.quality_max_files,
            max_seconds=config.quality_max_seconds, max_file_bytes=config.quality_max_file_bytes,
            max_total_bytes=config.quality_max_total_bytes,
        )
        if task_id is not None:
            who, kind = actor(state, None, None)
            comment = state.repository.add_comment(
                task_id, content=summarise(result), author=who, author_type=kind,
                comment_type=CommentType.QUALITY_CHECK.value, metadata=_gate_metadata(result),
            )
            result["task_comment_id"] = comment["id"]
        if format == "markdown":
            result["report"] = format_markdown(result)
            report = QualityReport(**result)
            return CallToolResult(
                content=[TextContent(type="text", text=result["report"])], structured_content=report.model_dump(mode="json")
            )
        return respond(QualityReport(**result))


def _gate_metadata(result: dict[str, Any]) -> dict[str, Any]:
    """Exactly what the repository's completion gate reads: counts.critical and critical_rules."""
    return {
        "verdict": result["verdict"],
        "counts": dict(result["counts"]),
        "contracts": [f"{c['name']}@{c['version']}" for c in result["contracts"]],
        "critical_rules": list(result["critical_rules"]),
        "path": result["path"],
    }
