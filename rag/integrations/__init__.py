"""Adapters to other frameworks. Each module imports its framework, so none is imported by the
package itself: `import rag.integrations.langchain` is what loads LangChain."""
