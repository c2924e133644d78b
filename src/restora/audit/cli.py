"""``restora audit DIR... [--pairs NOISY_DIR:CLEAN_DIR]... [--json FILE] [--html FILE]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from restora.cli import app

AUDIT_HELP = (
    "Check reference images before trusting them: residual noise, blur, JPEG blocking, clipping; for noisy/clean "
    "pairs (matched by file stem) exposure, colour cast, misalignment and mismatched scenes; duplicates within a "
    "folder and leaks across all folders given (also as crops, rescaled or re-encoded).\n\n"
    "Exit 0: nothing found; 1: findings; 2: usage error. List the training folder first: leak findings name its files."
)


@app.command(help=AUDIT_HELP)
def audit(
    dirs: Annotated[
        list[Path] | None, typer.Argument(metavar="DIR...", show_default=False, help="Folders of reference images.")
    ] = None,
    pairs: Annotated[
        list[str] | None,
        typer.Option(
            "--pairs",
            metavar="NOISY_DIR:CLEAN_DIR",
            help="A folder of noisy inputs and the folder of their references.",
        ),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", metavar="FILE", help="Write the findings as JSON.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write a report with thumbnails (.html, or .md for Markdown)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=0, help="Processes reading and checking images; 0: one per CPU.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no list of findings.")] = False,
) -> None:
    """``restora audit``: see AUDIT_HELP."""
    from restora.batch.jobs import UsageError

    dirs = list(dirs or [])
    pair_dirs = []
    for spec in pairs or []:
        noisy, sep, clean = spec.rpartition(":")
        if not sep or not noisy or not clean:
            raise UsageError(f"--pairs '{spec}': give NOISY_DIR:CLEAN_DIR")
        pair_dirs.append((Path(noisy), Path(clean)))
    if not dirs and not pair_dirs:
        raise UsageError("give at least one DIR or --pairs NOISY_DIR:CLEAN_DIR")
    for d in dirs + [p for pair in pair_dirs for p in pair]:
        if not d.is_dir():
            raise UsageError(f"{d}: no such folder")
    for out in (json_file, report):
        if out is not None and not out.parent.is_dir():
            raise UsageError(f"{out}: folder {out.parent} does not exist")
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".md"):
        raise UsageError(f"{report}: the report is .html or .md")

    from restora.audit.report import write_json, write_report
    from restora.audit.runner import default_workers, run_audit

    progress_bar = None
    if not quiet:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress_bar = Progress(
            TextColumn("auditing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
    task_id = None

    def progress(done: int, total: int) -> None:
        nonlocal task_id
        if progress_bar is None:
            return
        if task_id is None:
            progress_bar.start()
            task_id = progress_bar.add_task("images", total=total)
        progress_bar.update(task_id, completed=done)

    try:
        result = run_audit(dirs, pair_dirs, workers=workers or default_workers(), progress=progress)
    finally:
        if progress_bar is not None:
            progress_bar.stop()
    if json_file is not None:
        write_json(json_file, result.findings)
    if report is not None:
        write_report(report, result.findings, result.images)
    if not quiet:
        for f in result.findings:
            typer.echo(f"{f.code}: {f.path}: {f.message}")
    typer.echo(f"{result.images} images, {len(result.findings)} findings", err=True)
    raise typer.Exit(1 if result.findings else 0)
