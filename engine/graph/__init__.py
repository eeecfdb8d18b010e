"""The computation graph: the op table, expressions, the graph, and its two builders.

Every op is one row of the op table (a forward and a vector-Jacobian product);
expressions are parsed against it; a layered network and an expression graph are both
built into the same :class:`~engine.graph.graph.Graph`.
"""
