"""Results: the layer between the bench (which writes them) and the report (which reads nothing else).

`store` keeps one checksummed JSON record per finished cell, atomically, with a schema version;
`schema` validates records on read; `metrics` summarises records with pandas.
"""

from vaebench.results.schema import SCHEMA_VERSION, RecordError, SchemaVersionError, validate_record
from vaebench.results.store import ResultsMismatchError, ResultStore

__all__ = ["SCHEMA_VERSION", "RecordError", "ResultStore", "ResultsMismatchError", "SchemaVersionError",
           "validate_record"]
