"""A deterministic national-year traffic simulator: plans (pure) and their execution.

`plan` draws each complaint's life as dated steps, `mix` holds the published and assumed
distributions, `run` turns the plans into LaporApp commands. See docs/simulation.md.
"""

from lapor_es.simulation.plan import (
    ComplaintPlan,
    DirectoryView,
    LazyPlan,
    PlanError,
    PlanParams,
    SimulationPlan,
    Step,
    build_plan,
    draft_plan,
)
from lapor_es.simulation.run import (
    RunReport,
    default_directory,
    execute,
    simulate,
    simulate_streamed,
    steps_in_order,
)

__all__ = [
    "ComplaintPlan",
    "DirectoryView",
    "LazyPlan",
    "PlanError",
    "PlanParams",
    "RunReport",
    "SimulationPlan",
    "Step",
    "build_plan",
    "default_directory",
    "draft_plan",
    "execute",
    "simulate",
    "simulate_streamed",
    "steps_in_order",
]
