"""Storage: the workspace owns connections and table names."""

from sourcegrid.store.workspace import Workspace, default_workspace_path

__all__ = ["Workspace", "default_workspace_path"]
