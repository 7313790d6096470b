"""Argo Workflows manifests for multilevel, built with hera from the dataset configuration.

The package knows the step images and their command lines (the CLI contract), not the library's insides:

- ``steps.py``: one function per step container (image, command, resources, retries, security);
- ``harvest.py``: the WorkflowTemplate ``eurostat-harvest`` (plan, per-slice sub-DAGs, load);
- ``ess.py``: the WorkflowTemplate ``ess-load``;
- ``cron.py``: one CronWorkflow per configured dataset;
- ``generate.py``: writes one YAML file per manifest into the Helm chart (``python -m workflows``).
"""
