"""Numbered schema migrations. Never edit an applied one: add the next number."""

from sqlite_utils import Migrations

migrations = Migrations("selflengthen")


@migrations(name="001_initial")
def m001_initial(db):
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            generator_model TEXT NOT NULL,
            extender_model TEXT NOT NULL,
            backend TEXT NOT NULL,
            preset TEXT NOT NULL,
            config TEXT NOT NULL,
            guidelines TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE iterations (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            idx INTEGER NOT NULL,
            status TEXT NOT NULL,
            generator_checkpoint TEXT NOT NULL,
            extender_checkpoint TEXT NOT NULL,
            config TEXT NOT NULL,
            steps_done TEXT NOT NULL DEFAULT '[]',
            stats TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (run_id, idx)
        )""")
    db.execute("""
        CREATE TABLE instructions (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            iteration_id INTEGER NOT NULL REFERENCES iterations(id),
            key TEXT NOT NULL,
            text TEXT NOT NULL,
            language TEXT NOT NULL,
            source TEXT NOT NULL,
            parents TEXT NOT NULL DEFAULT '[]',
            judge TEXT,
            judge_output TEXT,
            status TEXT NOT NULL,
            reject_reason TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (run_id, key)
        )""")
    db.execute("CREATE INDEX instructions_by_iteration ON instructions (iteration_id, status)")
    db.execute("""
        CREATE TABLE samples (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            iteration_id INTEGER NOT NULL REFERENCES iterations(id),
            instruction_id INTEGER NOT NULL REFERENCES instructions(id),
            slot INTEGER NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL,
            reject_reason TEXT,
            initial_response TEXT NOT NULL,
            initial_words INTEGER NOT NULL,
            initial_attempts INTEGER NOT NULL,
            first_half TEXT,
            stage1_expansion TEXT,
            final_expansion TEXT,
            final_words INTEGER,
            growth REAL,
            rounds INTEGER NOT NULL DEFAULT 0,
            expand_attempts INTEGER NOT NULL DEFAULT 0,
            gates TEXT NOT NULL DEFAULT '{}',
            rejections TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (instruction_id, slot)
        )""")
    db.execute("CREATE INDEX samples_by_status ON samples (iteration_id, status)")
    db.execute("CREATE INDEX samples_by_final_words ON samples (iteration_id, final_words)")
    db.execute("CREATE INDEX samples_by_initial_words ON samples (iteration_id, initial_words)")
    db.execute("""
        CREATE TABLE expansion_rounds (
            id INTEGER PRIMARY KEY,
            sample_id INTEGER NOT NULL REFERENCES samples(id),
            round INTEGER NOT NULL,
            source_text TEXT NOT NULL,
            first_half TEXT NOT NULL,
            separator TEXT NOT NULL,
            stage1 TEXT,
            stage2 TEXT,
            result TEXT,
            words_before INTEGER NOT NULL,
            words_after INTEGER,
            attempts INTEGER NOT NULL,
            kept INTEGER NOT NULL,
            gates TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            UNIQUE (sample_id, round)
        )""")
    db.execute("""
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            sample_id INTEGER NOT NULL REFERENCES samples(id),
            iteration_id INTEGER NOT NULL REFERENCES iterations(id),
            verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject', 'pending')),
            reasons TEXT NOT NULL DEFAULT '[]',
            note TEXT NOT NULL DEFAULT '',
            edited_text TEXT,
            user TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX decisions_by_sample ON decisions (sample_id, id)")
    db.execute("CREATE INDEX decisions_by_iteration ON decisions (iteration_id, sample_id, id)")
    db.execute("""
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            iteration_id INTEGER REFERENCES iterations(id),
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            stage TEXT NOT NULL DEFAULT '',
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL DEFAULT 0,
            command TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            log TEXT NOT NULL DEFAULT '',
            error TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            started_at TEXT,
            heartbeat_at TEXT,
            finished_at TEXT
        )""")
    db.execute("CREATE INDEX jobs_by_run ON jobs (run_id, status)")


@migrations(name="002_training")
def m002_training(db):
    db.execute("ALTER TABLE jobs ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}'")
    db.execute("""
        CREATE TABLE job_metrics (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL REFERENCES jobs(id),
            step INTEGER NOT NULL,
            train_loss REAL,
            eval_loss REAL,
            learning_rate REAL,
            tokens_per_second REAL,
            created_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX job_metrics_by_job ON job_metrics (job_id, step)")
    db.execute("""
        CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            iteration_id INTEGER NOT NULL REFERENCES iterations(id),
            role TEXT NOT NULL CHECK (role IN ('generator', 'extender')),
            path TEXT NOT NULL,
            base_model TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('full', 'merged', 'adapter')),
            adapter_path TEXT,
            data_size INTEGER NOT NULL,
            train_loss REAL,
            eval_loss REAL,
            job_id INTEGER REFERENCES jobs(id),
            config TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            UNIQUE (iteration_id, role)
        )""")


@migrations(name="003_dashboard")
def m003_dashboard(db):
    # How many curators see each sample (the guidelines column exists since 001).
    db.execute("ALTER TABLE runs ADD COLUMN overlap INTEGER NOT NULL DEFAULT 1")
    # Per-stage progress origin of a job, so an ETA can be derived from its own rate.
    db.execute("ALTER TABLE jobs ADD COLUMN stage_started_at TEXT")
    db.execute("ALTER TABLE jobs ADD COLUMN stage_start_done INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX jobs_by_status ON jobs (status)")
    db.execute("CREATE INDEX decisions_by_user ON decisions (iteration_id, user, sample_id, id)")
    # One instruction answered by two iterations' generators, side by side.
    db.execute("""
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            job_id INTEGER REFERENCES jobs(id),
            instruction TEXT NOT NULL,
            iteration_a INTEGER NOT NULL,
            iteration_b INTEGER NOT NULL,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            response_a TEXT,
            response_b TEXT,
            words_a INTEGER,
            words_b INTEGER,
            created_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX comparisons_by_run ON comparisons (run_id, id)")


@migrations(name="004_evaluation")
def m004_evaluation(db):
    # One checkpoint's run over a LonGen-format benchmark; re-running the same identity resumes it.
    db.execute("""
        CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            iteration_idx INTEGER NOT NULL,
            role TEXT NOT NULL,
            model TEXT NOT NULL,
            benchmark TEXT NOT NULL,
            digest TEXT NOT NULL,
            total INTEGER NOT NULL,
            max_new_tokens INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'incomplete',
            summary TEXT NOT NULL DEFAULT '{}',
            job_id INTEGER REFERENCES jobs(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (run_id, iteration_idx, role, model, digest, max_new_tokens)
        )""")
    # One benchmark item's answer, its length scores and the judge's verdict.
    db.execute("""
        CREATE TABLE eval_items (
            id INTEGER PRIMARY KEY,
            evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
            item_idx INTEGER NOT NULL,
            language TEXT NOT NULL,
            length_range TEXT NOT NULL,
            type TEXT NOT NULL,
            constraint_text TEXT NOT NULL,
            query TEXT NOT NULL,
            response TEXT,
            words INTEGER,
            truncated INTEGER NOT NULL DEFAULT 0,
            n_tokens INTEGER,
            error TEXT,
            target_low REAL,
            target_high REAL,
            target REAL,
            length_score REAL,
            sl_score REAL,
            judge_model TEXT,
            judge_scores TEXT,
            judge_error TEXT,
            judge_output TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (evaluation_id, item_idx)
        )""")


@migrations(name="005_expansions_of_one_response")
def m005_expansions_of_one_response(db):
    # With expand.per_response > 1 one initial response is expanded several times, each expansion its own sample;
    # a copy's response_of names the sample whose initial response it expands (NULL for the sample itself).
    db.execute("ALTER TABLE samples ADD COLUMN response_of INTEGER REFERENCES samples(id)")


@migrations(name="006_final_rows")
def m006_final_rows(db):
    # The final stage (`finalize`): the pooled rows with their length constraints, one row per (run, key), and
    # the settings and figures of the run's latest finalize. A curator's verdict and edits live on the row.
    db.execute("""
        CREATE TABLE final_rows (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            key TEXT NOT NULL,
            sample_id INTEGER REFERENCES samples(id),
            iteration_idx INTEGER NOT NULL,
            source TEXT NOT NULL,
            language TEXT NOT NULL,
            instruction TEXT NOT NULL,
            query TEXT NOT NULL,
            response TEXT NOT NULL,
            words INTEGER NOT NULL,
            type TEXT NOT NULL,
            "constraint" TEXT NOT NULL,
            target_low REAL NOT NULL,
            target_high REAL NOT NULL,
            verdict TEXT,
            edited_query TEXT,
            edited_response TEXT,
            curator TEXT,
            decided_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (run_id, key)
        )""")
    db.execute("""
        CREATE TABLE finalizations (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id),
            settings TEXT NOT NULL,
            stats TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    # The run's final model (`train --final`), trained on the final rows; a re-run replaces it.
    db.execute("""
        CREATE TABLE final_models (
            run_id INTEGER PRIMARY KEY REFERENCES runs(id),
            path TEXT NOT NULL,
            base_model TEXT NOT NULL,
            kind TEXT NOT NULL,
            adapter_path TEXT,
            data_size INTEGER NOT NULL,
            train_loss REAL,
            eval_loss REAL,
            job_id INTEGER REFERENCES jobs(id),
            config TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        )""")


@migrations(name="007_lifebench_score")
def m007_lifebench_score(db):
    # LIFEBench's length score of each answer, beside LonGen's and S_l. It needs only what every answered row
    # already stores (type, words, target interval), so answers stored before it are scored here, by the
    # library's rule; an evaluation's stored summary shows it once the evaluation is run again (nothing is
    # answered twice: the re-run only summarizes).
    from selflengthen.evaluation.metrics import lifebench_item_score, lifebench_target

    def score(type, words, target, low, high):
        return lifebench_item_score(type, words, lifebench_target(type, target, low, high))

    db.execute("ALTER TABLE eval_items ADD COLUMN lifebench_score REAL")
    db.conn.create_function("lifebench", 5, score, deterministic=True)
    db.execute("UPDATE eval_items SET lifebench_score = lifebench(type, words, target, target_low, target_high)"
               " WHERE response IS NOT NULL AND error IS NULL AND words IS NOT NULL AND target_low IS NOT NULL"
               " AND target_high IS NOT NULL")


@migrations(name="008_status_indexes")
def m008_status_indexes(db):
    # What `status`, the Runs tab and Insights read of every sample -- the word counts of expanded samples and the
    # gates' rejection counts -- from indexes alone: the rows themselves hold long texts, and reading them for
    # 20,000 samples took a tenth of a second per iteration. And a sample's siblings (the other expansions of its
    # initial response), which Review looks up for every sample it opens: without an index, a scan of every row.
    db.execute("CREATE INDEX samples_by_expanded_words ON samples (iteration_id, rounds, final_words)")
    db.execute("CREATE INDEX samples_by_rejections ON samples (iteration_id, rejections)")
    db.execute("CREATE INDEX samples_by_response ON samples (response_of)")


@migrations(name="009_holds")
def m009_holds(db):
    # Which curator has which sample open in Review, until when: "next" hands each curator a sample that nobody
    # else holds, so two curators working at once do not decide the same sample twice (with overlap 1).
    db.execute("""
        CREATE TABLE holds (
            sample_id INTEGER NOT NULL REFERENCES samples(id),
            user TEXT NOT NULL,
            until REAL NOT NULL,
            PRIMARY KEY (sample_id, user)
        )""")
    db.execute("CREATE INDEX holds_by_user ON holds (user)")


@migrations(name="010_preference_metrics")
def m010_preference_metrics(db):
    # A preference step (DPO, ORPO, KTO) is judged by its rewards: how often the chosen text out-scores the
    # rejected one and by how much, on the training pairs and on the held-out ones.
    for column in ("reward_accuracy", "reward_margin", "eval_reward_accuracy", "eval_reward_margin"):
        db.execute(f"ALTER TABLE job_metrics ADD COLUMN {column} REAL")
