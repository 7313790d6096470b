"""Regional context for ESS respondents: NUTS versions from codes, reconstruction across versions (JRC converter),
the region-level table, snapshots and exports."""

from importlib import import_module

# Imported on first use, not with the package: the CLI registers `multilevel context` (context.cli) in every command,
# and build/tables bring pandas, which a `multilevel load` process must not pay for (issue 10: load RSS).
_EXPORTS = {
    "METHODS": "build", "build_values": "build", "to_regions": "build",
    "ContextConfig": "config", "load_context_config": "config",
    "build_context": "tables",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = ["METHODS", "ContextConfig", "build_context", "build_values", "load_context_config", "to_regions"]
