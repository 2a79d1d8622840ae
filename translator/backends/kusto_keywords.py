"""Kusto keywords that cannot stand as a name: after a dot they must be bracketed (`d["by"]`).

Generated from Microsoft's Kusto.Language (SyntaxFacts: keyword, not CanBeIdentifier, identifier-shaped);
tests/test_grammars.py checks this list against the grammar, so it cannot silently go stale.
"""

RESERVED = frozenset(
    """
    __contextual_datatable __crossCluster __crossDB __executeAndCache __id __isFuzzy __noWithSource
    __packedColumn __projectAway __sourceColumnIndex accumulate and anomalychart areachart as asc
    bagexpansion barchart between bin_legacy boolean by byte cachingpolicy callout cancel card char
    columnchart contains contains_cs containscs cycles dataexport datascope datatable date datetime
    decimal decodeblocks desc double dynamic earliest encodingpolicy endswith endswith_cs
    expandoutput extent_tags_retention external_data externaldata find first flags float
    force_remote harddelete hardretention has has_all has_any has_cs hasprefix hasprefix_cs
    hassuffix hassuffix_cs hotcache in int int16 int32 int64 int8 invoke isfuzzy journal kind
    ladderchart last latest like likecs linechart long materialize mdm missing nooptimization
    notcontains notcontainscs notlike notlikecs of or others pathformat piechart pivotchart print
    project queries query_results real relaxed restricted_view_access row_level_security rowstore
    rowstore_references rowstore_sealinfo rowstorepolicy rowstores sample scatterchart seal seals
    search set shards simple softdelete softretention sql stackedareachart startswith startswith_cs
    statistics storedqueryresultcontainers string tablepurge time timechart timeline timepivot
    timespan title to toscalar totable treemap uint uint16 uint32 uint64 uint8 ulong union uniqueid
    unrestrictedviewers verbose viewers views where with_itemindex with_match_id with_source
    with_step_name withsource writeaheadlog
    """.split()  # noqa: SIM905 - a word list reads better than 150 quoted strings
)

# Kusto's boolean literals are tokens, not keywords, so the list above lacks them; they cannot stand as
# a name after a dot either (`Claims_d.true` does not parse). Kusto.Language takes these six spellings;
# tests/test_grammars.py checks every letter case of true and false against the grammar.
BOOLEAN_LITERALS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
