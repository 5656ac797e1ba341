"""The web workbench's foundation: its languages (:mod:`.i18n`, catalogues under ``locale/``) and templates
(``templates/``). The pages and their routes belong to the HTTP app of ``ipscope serve``."""
