"""Language front ends: CWL (languages.cwl) and WDL (languages.wdl)."""
