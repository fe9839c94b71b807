import type { CentralMessenger } from './central-messenger.js';
import { DashboardIngest, type DashboardIngestOptions } from './ingest/dashboard-ingest.js';
import type { EventIngest } from './ingest/event-ingest.js';
import type { GapScanner } from './ingest/gap-scanner.js';
import type { IngestPipeline } from './ingest/ingest-pipeline.js';
import { GatewayMonitoring, type GatewayMonitoringOptions } from './monitoring/gateway-monitoring.js';
import type { GatewayWatchdog } from './monitoring/gateway-watchdog.js';
import { OutboundChannels, type OutboundChannelsOptions } from './outbound-channels.js';
import { clearRetiredCredentials } from './retired-credentials.js';
import type { VideoService } from './video/video-service.js';

export type BrokerSideOptions = OutboundChannelsOptions &
  Omit<DashboardIngestOptions, 'messenger'> &
  Omit<GatewayMonitoringOptions, 'messenger'>;

/**
 * The dashboard's parts that work through the broker, started in this order once the API serves:
 * the outbound channels (commands, credential sets, footage; the retained sets of retired gateways
 * deleted), the ingest, the gateways' monitoring (gaps, silence, status), and at last every
 * gateway's credential set published afresh. Each start waits for the broker; stop() stops them
 * in the reverse order, also after a start that failed part-way.
 */
export class BrokerSide {
  private channels: OutboundChannels | undefined;
  private ingestion: DashboardIngest | undefined;
  private monitoring: GatewayMonitoring | undefined;

  constructor(private readonly options: BrokerSideOptions) {}

  /** `connected` is called once the parts run, before the credential sets go out. */
  async start(connected: () => void): Promise<void> {
    const { options } = this;
    this.channels = new OutboundChannels(options);
    await this.channels.start();
    const messenger = this.channels.messenger;
    if (!messenger) throw new Error('the outbound channels started without their messenger');
    await clearRetiredCredentials(options.pool, messenger, options.log);
    this.ingestion = new DashboardIngest({ ...options, messenger });
    await this.ingestion.start();
    this.monitoring = new GatewayMonitoring({ ...options, messenger });
    await this.monitoring.start();
    connected();
    if (options.signingKey) await messenger.publishAllCredentials();
  }

  async stop(): Promise<void> {
    await this.monitoring?.stop();
    await this.ingestion?.stop();
    await this.channels?.stop();
  }

  /** Footage from the gateways, for the API. */
  get video(): VideoService | undefined {
    return this.channels?.video;
  }

  get ingest(): EventIngest | undefined {
    return this.ingestion?.ingest;
  }

  get pipeline(): IngestPipeline | undefined {
    return this.ingestion?.pipeline;
  }

  get messenger(): CentralMessenger | undefined {
    return this.channels?.messenger;
  }

  get gatewayWatchdog(): GatewayWatchdog | undefined {
    return this.monitoring?.gatewayWatchdog;
  }

  get gaps(): GapScanner | undefined {
    return this.monitoring?.gaps;
  }
}
