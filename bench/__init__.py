"""mempg's benchmark: `make bench` (quick) measures search, hybrid search and dedup inserts side by
side with exact search and the query shapes of Mem0's and LangChain's pgvector stores."""
