"""Fault injection for wg: prove "no job lost" as a measured number.

``python -m chaos run --backend sqlite --profile large --seed N`` runs every scenario of
issue 9 against real worker processes (``chaos.worker``) and prints, per scenario, the
checker's verdict: jobs, faults injected, lost, duplicate executions, illegal
transitions and stuck jobs, with the seed needed to replay the run.

Modules: ``effects`` (the append-only log workers write and the checker reads),
``worker`` (the worker process), ``harness`` (starting, killing and stopping workers;
waiting for the backend to settle), ``checker`` (comparing the backend's final state
with the log), ``scenarios`` (the fault scenarios), ``model`` (the Hypothesis state
machine over the backend contract), ``namespaces`` (namespace fuzzing).
"""
