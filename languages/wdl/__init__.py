"""WDL front end: load documents with miniwdl, compile them to runner nodes, run tasks."""
