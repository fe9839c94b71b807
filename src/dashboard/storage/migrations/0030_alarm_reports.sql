-- Gateways report the alarm conditions they hold (`alarm.conditions`, asked for with an
-- `alarms.report` command), and the central side closes the gateway's open conditions the report
-- does not list (docs/protocol.md, "Alarm condition reports").

-- The highest sequence number of the gateway events that raised this open alarm (first raising
-- and repeats): a report closes only what was raised below its own number, and a clearing only
-- what was raised below it. NULL for central alarms and for gateway alarms raised before this
-- migration, which count as raised below any report (a gateway reports only when a central side
-- of this version asks, so after every raising an older one applied).
ALTER TABLE alarms
  ADD COLUMN raised_seq     bigint,
  ADD COLUMN cleared_detail text;

-- Requests sent and not yet answered: the key of the digests the report names its conditions by.
-- Deleted when the report is applied, or a day after the request (a report that comes later is
-- stored, and not applied).
CREATE TABLE alarm_report_requests (
  command      uuid PRIMARY KEY,
  site         text NOT NULL,
  gateway      text NOT NULL,
  salt         text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alarm_report_requests_at ON alarm_report_requests (requested_at);

-- The newest report applied per gateway. Its digests and their key are kept only while an event
-- numbered below the report may still arrive (a gap below it, a resend): a late raising of a
-- condition the report did not list must not open it again. Once every number below it has
-- arrived (the gap scanner's watermark), they are set to NULL, and the stored report names no one.
CREATE TABLE gateway_alarm_reports (
  site        text NOT NULL,
  gateway     text NOT NULL,
  seq         bigint NOT NULL,
  event_id    uuid NOT NULL,
  salt        text,
  digests     text[],
  reported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (site, gateway)
);
