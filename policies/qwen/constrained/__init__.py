"""Constrained decoding: a byte-level regular-language toolkit, the tool-call grammar built with it,
and the logits processor that keeps generation inside it."""
