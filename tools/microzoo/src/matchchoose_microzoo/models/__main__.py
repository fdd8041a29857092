"""Command line of the micro-zoo base models: ``mnc-microzoo models COMMAND`` (or ``python -m
matchchoose_microzoo.models COMMAND``).

Commands: ``list`` (the zoo), ``vae`` (train the shared VAE), ``build`` (a random-weight model
folder), ``pretrain`` (one model), ``all`` (the VAE, then every model). Errors are one line.
"""

from __future__ import annotations

import sys

import click

from matchchoose import MatchChooseError


@click.group()
def main():
    """The micro zoo's tiny base models: list, train the shared VAE, build and pretrain.

    Example: mnc-microzoo models all data/microzoo zoo
    """


@main.command("list")
def list_():
    """The zoo: family, denoiser parameters, text encoder, pretraining steps, mixture.

    Example: mnc-microzoo models list
    """
    from . import ZOO, denoiser_parameters

    for spec in ZOO.values():
        mix = ", ".join(f"{d} {w:.2f}" for d, w in spec.weights().items())
        click.echo(f"{spec.name:14s} {spec.family:6s} {denoiser_parameters(spec) / 1e6:5.2f}M  {spec.text:9s} "
                   f"{spec.steps:5d} steps  {mix}")


@main.command()
@click.argument("data_root", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--steps", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=5e-4, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--domains", default=None, help="Comma-separated domains (default: every folder under DATA_ROOT).")
def vae(data_root, out_dir, steps, batch_size, lr, seed, domains):
    """Train the shared VAE on the domains' training splits.

    Example: mnc-microzoo models vae data/microzoo zoo/vae --steps 2000
    """
    from . import train_vae

    names = [d.strip() for d in domains.split(",") if d.strip()] if domains else None
    result = train_vae(data_root, out_dir, domains=names, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    click.echo(f"VAE in {result.out_dir}: held-out PSNR {result.stats.get('psnr_held_out_mean')} dB, latent std "
               f"{result.stats['std']:.3f}.")


@main.command()
@click.argument("name")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--vae", "vae_dir", default=None, type=click.Path(file_okay=False), help="The shared VAE folder.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--size", default="full", show_default=True, type=click.Choice(["full", "test"]))
def build(name, out_dir, vae_dir, seed, size):
    """Write zoo model NAME with random denoiser weights (a diffusers folder).

    Example: mnc-microzoo models build pixart-s zoo/pixart-s-init --vae zoo/vae
    """
    from . import build_pipeline

    click.echo(str(build_pipeline(name, out_dir, vae=vae_dir, seed=seed, size=size, overwrite=True)))


def _pretrain_options(f):
    for option in reversed([
        click.option("--vae", "vae_dir", default=None, type=click.Path(file_okay=False), help="The shared VAE folder."),
        click.option("--steps", default=None, type=click.IntRange(min=1),
                     help="Pretraining steps (default: each model's budget, 'list' shows it)."),
        click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1)),
        click.option("--lr", default=2e-4, show_default=True, type=float),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]):
        f = option(f)
    return f


@main.command()
@click.argument("name")
@click.argument("data_root", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@_pretrain_options
def pretrain(name, data_root, out_dir, vae_dir, steps, batch_size, lr, seed, quiet):
    """Pretrain zoo model NAME on its mixture (resumes from OUT_DIR's newest checkpoint).

    Example: mnc-microzoo models pretrain sd3-s data/microzoo zoo/sd3-s --vae zoo/vae
    """
    from . import pretrain as run

    result = run(name, data_root, out_dir, vae=vae_dir, steps=steps, batch_size=batch_size,
                 lr=lr, seed=seed, progress=not quiet)
    r = result.record
    click.echo(f"{name}: {r['steps']} steps, loss {r['loss_first_100']:.4f} -> {r['loss_last_100']:.4f}, "
               f"{r['seconds_per_step']} s/step; folder {result.out_dir}")


@main.command("all")
@click.argument("data_root", type=click.Path(file_okay=False))
@click.argument("out_root", type=click.Path(file_okay=False))
@click.option("--models", default=None, help="Comma-separated zoo models (default: all).")
@click.option("--vae-steps", default=2000, show_default=True, type=click.IntRange(min=1))
@_pretrain_options
def all_(data_root, out_root, models, vae_steps, vae_dir, steps, batch_size, lr, seed, quiet):
    """Train the VAE (OUT_ROOT/vae, unless --vae) and pretrain every model into OUT_ROOT/<name>.

    Example: mnc-microzoo models all data/microzoo zoo
    """
    from pathlib import Path

    from . import ZOO, pretrain as run, train_vae

    root = Path(out_root)
    if vae_dir is None:
        vae_dir = root / "vae"
        train_vae(data_root, vae_dir, steps=vae_steps, seed=seed, progress=not quiet)
    names = [m.strip() for m in models.split(",")] if models else list(ZOO)
    for name in names:
        result = run(name, data_root, root / name, vae=vae_dir, steps=steps, batch_size=batch_size,
                     lr=lr, seed=seed, progress=not quiet)
        r = result.record
        click.echo(f"{name}: loss {r['loss_first_100']:.4f} -> {r['loss_last_100']:.4f}, "
                   f"{r['seconds_per_step']} s/step")


def run(argv=None) -> int:
    """Entry point: one-line errors, exit code 1."""
    try:
        main.main(args=argv, standalone_mode=False)
    except MatchChooseError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
