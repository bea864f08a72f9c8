-- Layout 0: the tables the Rust wg's PostgreSQL backend creates.
CREATE TABLE "{ns}_jobs" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE "{ns}_scheduled" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL,
    run_at BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE "{ns}_retry" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL,
    retry_at BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE "{ns}_dead" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL,
    created_at TIMESTAMPTZ DEFAULT NOW())
