"""OData ``$filter`` and ``$orderby``: the grammar the list route accepts, and errors
naming what it leaves out."""
