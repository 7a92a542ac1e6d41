-- Proposals: an agency's change to one of its apps, waiting for Diskominfo's decision
-- (collector/proposals/). Kept after the decision, with its reason when rejected.

CREATE TABLE proposals (
    id           bigserial PRIMARY KEY,
    -- Whose proposal it is: the app's agency. No foreign keys: a proposal outlives its
    -- agency and its app (and a creation names an app that does not exist yet).
    agency_id    text NOT NULL,
    app_id       text NOT NULL,
    action       text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    -- Applications in the API's JSON form. `json`, not `jsonb`: kept as written, fields in the
    -- API's order for the diff. `base` is the app when proposed; `approved` what was applied
    -- (an admin may edit before approving; `proposed` stays as the agency sent it).
    proposed     json,
    base         json,
    approved     json,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    reason       text,
    proposed_by  text NOT NULL,  -- `token:<name>`, `account:<name>`
    decided_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    CHECK ((action = 'delete') = (proposed IS NULL)),
    CHECK ((action = 'create') = (base IS NULL)),
    CHECK ((state = 'rejected') = (reason IS NOT NULL)),
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK ((state = 'pending') = (decided_by IS NULL))
);
-- One pending proposal per app: the queue never holds two competing versions of one app.
CREATE UNIQUE INDEX proposals_one_pending_idx ON proposals (app_id) WHERE state = 'pending';
CREATE INDEX proposals_agency_idx ON proposals (agency_id, id);
CREATE INDEX proposals_pending_idx ON proposals (id) WHERE state = 'pending';
