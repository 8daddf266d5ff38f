"""Video popularity (Kayal et al., Findings ACL 2025).

Two classes from the paper's split: a *local hit* has at most ~78K views and trended in one
country; a *global big hit* has at least ~594K views and trended in six or more countries.
The finer 1–4 scale (1–2 local, 3–4 global) lets a model express how sure it is of the side.
"""

from pipelines.tasks.base import TaskSpec, register_task

POPULARITY = register_task(
    TaskSpec(
        name="popularity",
        label_key="popularity",
        labels=("local-hit", "global-big-hit"),
        label_descriptions={
            "local-hit": "at most about 78 thousand views, trending in a single country",
            "global-big-hit": "at least about 594 thousand views, trending in six or more countries",
        },
        scale={1: "local-hit", 2: "local-hit", 3: "global-big-hit", 4: "global-big-hit"},
        # the classes are defined by views and the number of trending countries
        label_fields=("views", "view_count", "views_count", "num_views", "viewcount", "countries",
                      "country_count", "countries_count", "num_countries", "n_countries", "trending_countries",
                      "trending_in", "regions"),
        generic_words=tuple("hit hits popular popularity viral views view viewers watch watched trending country "
                            "countries local global big grand".split()),
    )
)
