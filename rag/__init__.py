"""公文起草助手: corpus → Chroma → retrieval → drafting."""
