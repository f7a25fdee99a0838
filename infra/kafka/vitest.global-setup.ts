// Placeholder: replaced by the Kafka bootstrap (starts a broker unless KAFKA_BROKERS is set).
export default function setup() {}
