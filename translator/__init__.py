"""Detection-as-code compiler: Sigma rules to Kibana KQL, Elasticsearch EQL and Sentinel KQL."""
