"""The `archcalc` command. Each subcommand lives in its own module; heavy imports happen
inside the commands, so `archcalc summarize` starts fast.

Every command added here gets -q/--quiet and -v/--verbose (Group.add_command below); a command
that prints a table uses the shared --format option of archcalc.cli.output."""

from __future__ import annotations

import click

from archcalc import __version__
from archcalc.cli.animate import animate
from archcalc.cli.calc import conv, pool
from archcalc.cli.common import verbosity_params
from archcalc.cli.convert import import_model
from archcalc.cli.draw import draw
from archcalc.cli.export import export
from archcalc.cli.grade import grade
from archcalc.cli.plot import plot
from archcalc.cli.quiz import quiz
from archcalc.cli.report import report
from archcalc.cli.rf import rf
from archcalc.cli.run import run
from archcalc.cli.summarize import check, summarize
from archcalc.cli.verify import verify
from archcalc.cli.zoo import zoo


class Group(click.Group):
    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        taken = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        cmd.params += [p for p in verbosity_params() if not taken & set(p.opts)]
        super().add_command(cmd, name)


@click.group(
    cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="archcalc")
def main() -> None:
    """A calculator for convolutional network architectures.

    Write a network as a short YAML spec (or name a bundled one, such as alexnet, vgg16 or
    resnet50) and archcalc gives every layer's output volume, parameters, MACs/FLOPs, memory
    and receptive field, and finds every filter that does not fit its input.

    \b
    Examples:
      archcalc summarize alexnet
      archcalc summarize my_net.yaml --format json
      archcalc check alexnet vgg16 --strict
      archcalc conv 32x32x3 --filters 10 --kernel 5 --pad 2
      archcalc grade key.yaml submissions/ --format csv
    """


main.add_command(summarize)
main.add_command(check)
main.add_command(zoo)
main.add_command(rf)
main.add_command(verify)
main.add_command(run)
main.add_command(draw)
main.add_command(animate)
main.add_command(plot)
main.add_command(report)
main.add_command(grade)
main.add_command(conv)
main.add_command(pool)
main.add_command(quiz)
main.add_command(import_model)
main.add_command(export)
