-- The units that keep a panel from being balanced, or break its rules: a unit must have
-- one row in every period, an outcome in each, and one cohort and one cluster throughout.
-- An empty result means the statistics below apply.
WITH periods AS (SELECT COUNT(DISTINCT period) AS n FROM panel)
SELECT unit,
       COUNT(*) AS n_rows,
       COUNT(DISTINCT period) AS n_periods,
       COUNT(y) AS n_outcomes,
       COUNT(DISTINCT COALESCE(cohort, 0)) AS n_cohorts,
       COUNT(DISTINCT cluster) AS n_clusters
FROM panel
GROUP BY unit
HAVING COUNT(*) <> (SELECT n FROM periods)
    OR COUNT(DISTINCT period) <> COUNT(*)
    OR COUNT(y) <> COUNT(*)
    OR COUNT(DISTINCT COALESCE(cohort, 0)) > 1
    OR COUNT(DISTINCT cluster) > 1
