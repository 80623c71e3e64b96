"""Command line: ``python -m glmeval_utils {fetch,pretrain,run,build,sync,publish,doctor}`` (also ``glmeval``).

``make book`` runs the first four commands in turn: fetch the data of a
profile, pre-train the teaching gLMs, execute the chapters with papermill,
build the Jupyter Book; ``make publish`` pushes the built book to the pages
branch.  ``sync`` rewrites what derives from the repository setting of
``book/_config.yml`` (the chapters' Colab cells, README's install lines).
Expected failures print one line to stderr and exit with 1.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from glmeval_utils.profiles import PROFILE_NAMES

#: Errors our modules raise for bad input or missing files; shown without a traceback.
EXPECTED_ERRORS = (ValueError, FileNotFoundError, RuntimeError)


def _fetch(args: argparse.Namespace) -> None:
    from glmeval_utils.data.registry import summarize

    _print_table(summarize(profile=args.profile))


def _pretrain(args: argparse.Namespace) -> None:
    from glmeval_utils.pretrain import pretrain_all

    _print_table(pretrain_all(args.profile, seed=args.seed, jobs=args.jobs))


def _run(args: argparse.Namespace) -> None:
    from glmeval_utils.book import run_notebooks

    timings = run_notebooks(args.profile, device=args.device, kernel=args.kernel, only=args.only,
                            timeout=getattr(args, "timeout", "profile"), threads=args.threads, jobs=args.jobs,
                            progress=not args.quiet)
    _print_table(timings)


def _build(args: argparse.Namespace) -> None:
    from glmeval_utils.book import build_book

    # without --timeout, build_book's own default limit applies
    limit = {"timeout": args.timeout} if hasattr(args, "timeout") else {}
    html_dir = build_book(args.book_dir, **limit)
    print(f"The book is in {html_dir}; open {html_dir / 'index.html'} in a browser.")


def _sync(args: argparse.Namespace) -> None:
    from glmeval_utils.book import repository_setting, sync_repository_setting

    changed = sync_repository_setting(args.root)
    repo = repository_setting(None if args.root is None else f"{args.root}/book")
    names = ", ".join(str(path) for path in changed) or "nothing: already in sync"
    print(f"Following {repo.url} (branch {repo.branch}); updated {names}")


def _publish(args: argparse.Namespace) -> None:
    from glmeval_utils.publish import publish_book

    plan = publish_book(args.book_dir, branch=args.branch, remote=args.remote, push=not args.no_push,
                        dry_run=args.dry_run)
    if args.dry_run:
        print("\n".join(plan.files))
        print(f"Would publish {len(plan.files)} files of {plan.html_dir} to branch {plan.branch} "
              f"of {plan.remote}, served at {plan.url}")
    else:
        where = f"pushed to {plan.remote}" if not args.no_push else "committed locally"
        print(f"Published {len(plan.files)} files to branch {plan.branch} ({where}); "
              f"GitHub Pages serves it at {plan.url}")


def _doctor(args: argparse.Namespace) -> None:
    from glmeval_utils.doctor import main as doctor

    # Prints the table; raises DoctorFailed (a RuntimeError: exit status 1) when a model failed.
    doctor(args.profile, models=args.models, paths=args.path, device=args.device, all_models=args.all,
           length=args.length, trust_remote_code=args.trust_remote_code)


def _print_table(table: pd.DataFrame) -> None:
    print(table.to_string(index=False))


def _positive_count(text: str) -> int:
    """A count ≥ 1 (``--threads``, ``--timeout`` seconds)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {count}")
    return count


def _seconds_or_none(text: str) -> int | None:
    """A ``--timeout`` value: whole seconds ≥ 1, or ``none`` for no limit."""
    return None if text.strip().lower() == "none" else _positive_count(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the four subcommands."""
    parser = argparse.ArgumentParser(
        prog="glmeval",
        description="Reproduce Tang et al. (Genome Biology 2025): do DNA language models beat one-hot?")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{fetch,pretrain,run,build,sync,publish,doctor}")

    def add_profile(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--profile", default="demo", choices=PROFILE_NAMES,
                         help="how much data and which models (default: demo)")

    fetch = commands.add_parser("fetch", help="download (or copy from GLMEVAL_MIRROR) the data of a profile")
    add_profile(fetch)
    fetch.set_defaults(handler=_fetch)

    pretrain = commands.add_parser("pretrain", help="pre-train the teaching gLMs of a profile")
    add_profile(pretrain)
    pretrain.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    pretrain.add_argument("--jobs", type=int, default=1,
                          help="models trained side by side, each on the CPU cores divided among the jobs (default: 1)")
    pretrain.set_defaults(handler=_pretrain)

    run = commands.add_parser("run", help="execute the chapter notebooks in order with papermill")
    add_profile(run)
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                     help="where models run (default: auto = cuda if available)")
    run.add_argument("--kernel", default=None, help="Jupyter kernel name (default: this Python's)")
    run.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                     help="run only the notebooks whose names start with these prefixes, e.g. 01 03")
    # SUPPRESS: argparse would pass a string default through the type function
    run.add_argument("--timeout", type=_seconds_or_none, default=argparse.SUPPRESS, metavar="SECONDS",
                     help="stop a cell running longer than this, or 'none' for no limit (default: the "
                          "profile's, glmeval_utils.book.CELL_TIMEOUTS)")
    run.add_argument("--threads", type=_positive_count, default=None, metavar="N",
                     help="CPU threads of each chapter's kernel, recorded in timings.csv "
                          "(default: torch's choice, OMP_NUM_THREADS or the physical cores)")
    run.add_argument("--jobs", type=_positive_count, default=1, metavar="N",
                     help="chapters executed side by side, the summary last (default 1); the default threads "
                          "are then the cores divided among them")
    run.add_argument("--quiet", action="store_true", help="no per-cell progress bar")
    run.set_defaults(handler=_run)

    build = commands.add_parser("build", help="build the Jupyter Book from the executed notebooks")
    build.add_argument("--book-dir", default=None, help="the book folder (default: book/ of the checkout)")
    build.add_argument("--timeout", type=_seconds_or_none, default=argparse.SUPPRESS, metavar="SECONDS",
                       help="stop jupyter-book after this long, or 'none' for no limit "
                            "(default: glmeval_utils.book.BUILD_TIMEOUT)")
    build.set_defaults(handler=_build)

    sync = commands.add_parser("sync", help="rewrite the notebooks' Colab cells and README's install lines "
                               "from the repository setting of book/_config.yml")
    sync.add_argument("--root", default=None, help="the checkout (default: the one this package runs from)")
    sync.set_defaults(handler=_sync)

    publish = commands.add_parser("publish", help="push the built book to the pages branch (GitHub Pages)")
    publish.add_argument("--book-dir", default=None, help="the book folder (default: book/ of the checkout)")
    publish.add_argument("--branch", default="gh-pages", help="the pages branch (default: gh-pages)")
    publish.add_argument("--remote", default="origin", help="the git remote to push to (default: origin)")
    publish.add_argument("--no-push", action="store_true", help="commit to the local branch only")
    publish.add_argument("--dry-run", action="store_true", help="list the files that would be published")
    publish.set_defaults(handler=_publish)

    doctor = commands.add_parser("doctor", help="load every gLM of a profile, embed and score two sequences, "
                                 "print a table; exit 1 if any model fails")
    doctor.add_argument("--profile", default="full", choices=PROFILE_NAMES,
                        help="whose models to check (default: full)")
    chosen = doctor.add_mutually_exclusive_group()
    chosen.add_argument("--models", default=None, metavar="A,B",
                        help="check these registry gLMs instead of the profile's (comma-separated)")
    chosen.add_argument("--all", action="store_true",
                        help="check every registry gLM of the profile's tier, random-init controls included")
    doctor.add_argument("--path", action="append", default=[], metavar="NAME=FOLDER",
                        help="load gLM NAME from a local save_pretrained folder (repeatable)")
    doctor.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    doctor.add_argument("--length", type=int, default=230,
                        help="nucleotides per test sequence (default: 230, the lentiMPRA element length)")
    doctor.add_argument("--trust-remote-code", action="store_true",
                        help="let the --path folders run the Python code they ship (auto_map); without it such a "
                        "folder fails to load")
    doctor.set_defaults(handler=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage error
        return int(exit_.code or 0)
    try:
        args.handler(args)
    except EXPECTED_ERRORS as error:
        print(f"glmeval {args.command}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
