-- The longest claim of an index and scope, found without a scan: a search for the claims
-- meeting a range then reads only those starting at most that far below it, rather than
-- every claim that starts below its end (a network create in a project of thousands of
-- networks read them all).
CREATE INDEX resource_index_by_length
    ON resource_index (index_name, scope, (range_end - range_start));
