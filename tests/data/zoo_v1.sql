-- A version-1 zoo catalogue (SCHEMA_VERSION 1, before fishers.kind/distances.kind became fisher_kind),
-- written by tanas at commit fa05f87: paper-digits/T0 and digits:indicator:1 (cnn, max_epochs=2, epsilon=0,
-- seed 0, empirical Fishers), nearest('paper-digits/T0') and nearest(digits:subset:3,5) (an unlisted cached
-- target), and one genotype via put_genotype. Dumped with sqlite3's iterdump(), which omits user_version,
-- so it is set at the end. The object files are not kept (the project does not commit .safetensors).
BEGIN TRANSACTION;
CREATE TABLE distances (
        source_object TEXT NOT NULL,     -- sha of the source probe's weights
        target_object TEXT NOT NULL,     -- sha of the target probe's weights
        target_fp TEXT NOT NULL,
        seed INTEGER NOT NULL,
        kind TEXT NOT NULL,
        head TEXT NOT NULL,
        layers TEXT NOT NULL,
        normalise TEXT NOT NULL,
        squared INTEGER NOT NULL,
        source_fp TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        value REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source_object, target_object, target_fp, seed, kind, head, layers, normalise, squared));
INSERT INTO "distances" VALUES('075b3816cfd281affe23a3a2f1412778398b3212762edd624ad70f05c001a816','4615f0010c3f122f3d6754cc9d2a861861230b917b8ec178e043ce87f9cfca48','29506693a042d17a792a5f904de6c650995a49d94f51f990ab7d623f0f343fc8',0,'empirical','refit','all','whole',0,'d8bafc15e80f011e024a516545e0466b1c9cdd7dfc38938274c4ea5fd04243be','0620528cc1801282',6.82882068428213750976e-01,1.79610092871801424029e+09);
INSERT INTO "distances" VALUES('4615f0010c3f122f3d6754cc9d2a861861230b917b8ec178e043ce87f9cfca48','4615f0010c3f122f3d6754cc9d2a861861230b917b8ec178e043ce87f9cfca48','29506693a042d17a792a5f904de6c650995a49d94f51f990ab7d623f0f343fc8',0,'empirical','refit','all','whole',0,'29506693a042d17a792a5f904de6c650995a49d94f51f990ab7d623f0f343fc8','0620528cc1801282',0.0,1.79610092872279167178e+09);
INSERT INTO "distances" VALUES('075b3816cfd281affe23a3a2f1412778398b3212762edd624ad70f05c001a816','8218fd2a0b962dd289bd146fdf6846ca460ae52458d0477ce9da463a0299fd8f','51514230aa4b69c44bf96e58aebddb3326d57047360ac3a6d031c7bb12f3b403',0,'empirical','refit','all','whole',0,'d8bafc15e80f011e024a516545e0466b1c9cdd7dfc38938274c4ea5fd04243be','0620528cc1801282',6.84486329724090847292e-01,1.79610092890468096729e+09);
INSERT INTO "distances" VALUES('4615f0010c3f122f3d6754cc9d2a861861230b917b8ec178e043ce87f9cfca48','8218fd2a0b962dd289bd146fdf6846ca460ae52458d0477ce9da463a0299fd8f','51514230aa4b69c44bf96e58aebddb3326d57047360ac3a6d031c7bb12f3b403',0,'empirical','refit','all','whole',0,'29506693a042d17a792a5f904de6c650995a49d94f51f990ab7d623f0f343fc8','0620528cc1801282',6.59640105305860813267e-01,1.79610092902822375297e+09);
CREATE TABLE fishers (
        id INTEGER PRIMARY KEY,
        probe_id INTEGER NOT NULL REFERENCES probes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        object TEXT NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (probe_id, kind));
INSERT INTO "fishers" VALUES(1,1,'empirical','529bf965472d55b73a032fcd5e07feae13f123788a63320a14c244cb5fba0210',5.49683129999607444915e-02,1.79610092841697335241e+09);
INSERT INTO "fishers" VALUES(2,2,'empirical','259e4586cb1200c9b4ea489ce97394a739b7e09ebb27d78e8922e4b058857100',4.20732389999898259702e-02,1.79610092858565092086e+09);
INSERT INTO "fishers" VALUES(3,3,'empirical','633ed37e81d1b6ce8fe72ca427f8b462fac4d180c766da020cd475c6753ec7bc',3.62674130000186778488e-02,1.79610092883365201951e+09);
CREATE TABLE genotypes (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        genotype TEXT NOT NULL,
        score REAL NOT NULL,
        search_id INTEGER REFERENCES searches(id) ON DELETE SET NULL,
        created_at REAL NOT NULL);
INSERT INTO "genotypes" VALUES(1,1,'["conv_3x3", "skip_connect", "sep_conv_3x3", "none", "max_pool_3x3", "conv_1x1"]',0.75,1,1.79610092903392553329e+09);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO "meta" VALUES('created_at','1796100923.7370288');
CREATE TABLE probes (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        probe TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        object TEXT NOT NULL,
        record TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (task_id, config_hash, seed));
INSERT INTO "probes" VALUES(1,1,'cnn','0620528cc1801282','{"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}',0,'4615f0010c3f122f3d6754cc9d2a861861230b917b8ec178e043ce87f9cfca48','{"config": {"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}, "device": "cpu", "epochs": 2, "in_channels": 1, "input_size": 8, "num_classes": 2, "probe": "cnn", "reached_epsilon": false, "seed": 0, "steps": 4, "task": "T0", "task_spec": "digits:indicator:0", "train_seconds": 0.09108912599998575, "val_acc": 0.9883720874786377, "val_error": 0.011627912521362305}',1.79610092835819435122e+09);
INSERT INTO "probes" VALUES(2,2,'cnn','0620528cc1801282','{"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}',0,'075b3816cfd281affe23a3a2f1412778398b3212762edd624ad70f05c001a816','{"config": {"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}, "device": "cpu", "epochs": 2, "in_channels": 1, "input_size": 8, "num_classes": 2, "probe": "cnn", "reached_epsilon": false, "seed": 0, "steps": 4, "task": "digits:indicator:1", "task_spec": "digits:indicator:1", "train_seconds": 0.06322369299999764, "val_acc": 0.8863636255264282, "val_error": 0.11363637447357178}',1.79610092852224278447e+09);
INSERT INTO "probes" VALUES(3,3,'cnn','0620528cc1801282','{"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}',0,'8218fd2a0b962dd289bd146fdf6846ca460ae52458d0477ce9da463a0299fd8f','{"config": {"augment": false, "batch_size": 128, "epsilon": 0.0, "lr": 0.003, "max_epochs": 2, "max_steps": 1500, "min_steps": 100, "name": "cnn", "weight_decay": 0.0}, "device": "cpu", "epochs": 2, "in_channels": 1, "input_size": 8, "num_classes": 2, "probe": "cnn", "reached_epsilon": false, "seed": 0, "steps": 4, "task": "digits:subset:3,5", "task_spec": "digits:subset:3,5", "train_seconds": 0.023853664999990087, "val_acc": 0.9767441749572754, "val_error": 0.02325582504272461}',1.7961009287851190567e+09);
CREATE TABLE searches (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        record TEXT NOT NULL,
        created_at REAL NOT NULL);
INSERT INTO "searches" VALUES(1,1,'{"seed": 0, "strategy": "fuse"}',1.79610092903386044504e+09);
CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,                -- NULL: an unlisted, cached nearest() target
        spec TEXT NOT NULL,
        task_name TEXT NOT NULL,
        origin TEXT NOT NULL,            -- what parse_task() is given to rebuild the task
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        num_classes INTEGER NOT NULL,
        input_shape TEXT NOT NULL,
        data_seed INTEGER NOT NULL,
        created_at REAL NOT NULL,
        listed_at REAL);
INSERT INTO "tasks" VALUES(1,'29506693a042d17a792a5f904de6c650995a49d94f51f990ab7d623f0f343fc8','paper-digits/T0','digits:indicator:0','T0','paper-digits/T0','digits','indicator',2,'[1, 8, 8]',0,1.79610092554051089283e+09,1.79610092554051184649e+09);
INSERT INTO "tasks" VALUES(2,'d8bafc15e80f011e024a516545e0466b1c9cdd7dfc38938274c4ea5fd04243be','digits:indicator:1','digits:indicator:1','digits:indicator:1','digits:indicator:1','digits','indicator',2,'[1, 8, 8]',0,1.79610092843822836874e+09,1.79610092843822908396e+09);
INSERT INTO "tasks" VALUES(3,'51514230aa4b69c44bf96e58aebddb3326d57047360ac3a6d031c7bb12f3b403',NULL,'digits:subset:3,5','digits:subset:3,5','digits:subset:3,5','digits','subset',2,'[1, 8, 8]',0,1.79610092875614213948e+09,NULL);
CREATE INDEX probes_object ON probes(object);
CREATE INDEX fishers_object ON fishers(object);
CREATE INDEX genotypes_task ON genotypes(task_id, score);
COMMIT;
PRAGMA user_version = 1;
