"""sourcegrid: precision pollution control (精准治污).

Accounting by the census coefficient method, hotspot grid monitoring, source
tracing and environmental quality assessment. See README.md and DESIGN.md.
"""

__version__ = "0.1.0"
