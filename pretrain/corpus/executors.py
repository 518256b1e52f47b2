"""The `executor:` block of the corpus config -> a datatrove executor for one stage.

The same stage pipelines run on `LocalPipelineExecutor`, `RayPipelineExecutor` or
`SlurmPipelineExecutor`; a stage that reads another's output `depends=` on it, as in datatrove's own
examples. Ray and Slurm need a filesystem every worker sees (the work dir and the corpus).
"""

from __future__ import annotations

import logging
from pathlib import Path

from weprompt.pretrain.corpus.config import CorpusConfig, CorpusConfigError, RayConfig

log = logging.getLogger(__name__)


def check_executor(cfg: CorpusConfig) -> None:
    """Errors a run would only hit later, before any work starts."""
    e = cfg.executor
    if e.kind == "slurm" and not e.slurm.partition:
        raise CorpusConfigError("executor.slurm.partition is required with executor.kind: slurm")
    if e.kind == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as err:
            raise CorpusConfigError(
                "executor.kind: ray needs the `ray` package: pip install 'weprompt[corpus-ray]'"
            ) from err


def ensure_ray(rc: RayConfig, workers: int) -> None:
    """Start (or join) Ray once per process."""
    import ray

    if ray.is_initialized():
        return
    if rc.address:
        ray.init(address=rc.address, log_to_driver=False)
    else:
        ray.init(num_cpus=rc.num_cpus or workers, include_dashboard=False, log_to_driver=False)
    log.info("ray: %s", ray.cluster_resources())


def make_executor(cfg: CorpusConfig, pipeline: list, tasks: int, logging_dir: Path, stage: str, depends=None):
    """One stage's executor; `depends` is the executor of the stage before it (ray, slurm)."""
    workers = min(cfg.workers, tasks)
    e = cfg.executor
    if e.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=str(logging_dir),
            start_method="fork",  # inherits quiet_datatrove's logger patch; no threads are alive here
        )
    if e.kind == "ray":
        from datatrove.executor import RayPipelineExecutor

        ensure_ray(e.ray, cfg.workers)
        return RayPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=workers,
            depends=depends,
            logging_dir=str(logging_dir),
            cpus_per_task=e.ray.cpus_per_task,
            mem_per_cpu_gb=e.ray.mem_per_cpu_gb,
        )
    from datatrove.executor import SlurmPipelineExecutor

    s = e.slurm
    return SlurmPipelineExecutor(
        pipeline=pipeline,
        tasks=tasks,
        workers=workers,
        time=s.time,
        partition=s.partition,
        cpus_per_task=s.cpus_per_task,
        mem_per_cpu_gb=s.mem_per_cpu_gb,
        qos=s.qos,
        env_command=s.env_command or None,
        job_name=f"{s.job_name_prefix}_{stage}",
        sbatch_args=dict(s.sbatch_args),
        depends=depends,
        logging_dir=str(logging_dir),
        slurm_logs_folder=str(logging_dir / "slurm_logs"),
    )
