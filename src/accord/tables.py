"""Import every table module so ``Base.metadata`` is complete (Alembic, tests)."""

from accord.alerts import models as alerts_models
from accord.audit import models as audit_models
from accord.db import Base
from accord.exchange import models as exchange_models
from accord.parties import models as parties_models
from accord.records import models as records_models
from accord.search import models as search_models

metadata = Base.metadata

__all__ = ["alerts_models", "audit_models", "exchange_models", "metadata", "parties_models",
           "records_models", "search_models"]
